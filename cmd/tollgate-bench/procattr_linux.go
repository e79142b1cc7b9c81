package main

import "syscall"

// childAttr makes a child die with this process, should it die first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
