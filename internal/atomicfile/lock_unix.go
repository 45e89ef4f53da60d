//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on folder dir, waiting for another
// holder, and returns its release. Linux and the BSDs lock a folder's
// descriptor as a file's, so no lock file is left in the folder.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
