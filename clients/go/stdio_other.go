//go:build !linux

package keel

import "os"

// redirectStdout returns the original stdout and points os.Stdout at stderr. Without a portable
// dup2 the file descriptor itself is not redirected, so only writes through os.Stdout (fmt.Print*)
// are kept off the wire here.
func redirectStdout() (*os.File, error) {
	wire := os.Stdout
	os.Stdout = os.Stderr
	return wire, nil
}
