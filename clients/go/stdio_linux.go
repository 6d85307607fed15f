package keel

import (
	"os"
	"syscall"
)

// redirectStdout returns a file on the original stdout and makes fd 1 a copy of stderr.
// syscall.Dup3, not Dup2: linux/arm64 has no dup2 system call.
func redirectStdout() (*os.File, error) {
	fd, err := syscall.Dup(1)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Dup3(2, 1, 0); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	wire := os.NewFile(uintptr(fd), "keel-wire")
	os.Stdout = os.Stderr
	return wire, nil
}
