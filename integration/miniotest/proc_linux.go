package miniotest

import "syscall"

// sysProcAttr makes the kernel kill MinIO if the thread that started it
// exits, which in practice means when the test binary dies (Go does not
// end threads that a goroutine has not locked), so no server outlives a
// crashed or killed test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
