//go:build !linux

package interop_test

import "syscall"

// childAttr: without Linux's parent-death signal, the cleanup's SIGKILL is
// all that ends a server process.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
