package interop_test

import "syscall"

// childAttr has the kernel SIGKILL a server process when the test process
// goes, even killed itself: no server is left running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
