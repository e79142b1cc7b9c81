package nginxtest

import "syscall"

// sysProcAttr has the kernel end nginx when the test binary dies without
// its cleanups (a panic, go test's timeout), so that no server outlives
// its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
