package miniotest

import "syscall"

// sysProcAttr makes the kernel kill MinIO if the thread that started it
// exits, which in practice means when the test binary dies (Go does not
// end threads that a goroutine has not locked), so no server outlives a
// crashed or killed test run. MinIO has a process group of its own: a
// Ctrl-C in the terminal (SIGINT to the foreground group, as with
// `make run`) is for its owner, which stops it, not for MinIO, which
// would exit before being stopped.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
