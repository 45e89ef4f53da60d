package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckWritable tells, before any work, whether files can be created in
// dir: dir, or the nearest of its ancestors that exists when dir does not
// yet, must be a folder that accepts a new file. It probes by creating and
// removing a temporary file, since permission bits alone do not tell (root,
// read-only mounts, ACLs).
func CheckWritable(dir string) error {
	if dir == "" {
		dir = "."
	}
	at := dir
	for {
		st, err := os.Stat(at)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("cannot write into %s: %s is not a folder", dir, at)
			}
			break
		}
		// ENOTDIR: a file stands where a folder of the path should.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("cannot write into %s: %w", dir, err)
		}
		parent := filepath.Dir(at)
		if parent == at {
			return fmt.Errorf("cannot write into %s: %w", dir, err)
		}
		at = parent
	}
	f, err := os.CreateTemp(at, ".amq-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write into %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
