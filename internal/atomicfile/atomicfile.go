// Package atomicfile writes files so that a reader, or a crash, sees
// either the previous content or the complete new one, never a part: the
// data goes to a temporary file in the destination's folder, which is
// synced to disk and then renamed over the destination.
//
// The temporary file is named ".<name>.tmp<random>"; a written file has
// mode 0666 minus the umask, as files other tools create have, not
// os.CreateTemp's 0600, so that another user (a board's runtime user) can
// read a deploy model when the umask allows it.
//
// A set of files that must appear together (a model and its external data,
// the four outputs of a quantization) is written into a Staging folder
// beside them and moved into place by one Commit.
package atomicfile

import (
	"os"
	"path/filepath"
)

// File is a file being written under a temporary name. Commit puts it in
// place; Abort, deferred right after Create, removes it when Commit did
// not happen or failed.
type File struct {
	f    *os.File
	path string
	done bool
}

// Create starts writing the file path. The temporary file is created next
// to path, so that the final rename stays within one file system.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, writeError(path, err)
	}
	if err := f.Chmod(0o666 &^ umask()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, writeError(path, err)
	}
	track(f.Name())
	return &File{f: f, path: path}, nil
}

// Write writes to the temporary file. An error names the file's path, not
// the temporary one, and the cause.
func (a *File) Write(p []byte) (int, error) {
	n, err := a.f.Write(p)
	if err != nil {
		err = writeError(a.path, err)
	}
	return n, err
}

// Commit syncs and closes the temporary file and renames it to the path
// given to Create, replacing any file there.
func (a *File) Commit() error {
	if err := a.f.Sync(); err != nil {
		return writeError(a.path, err)
	}
	if err := a.f.Close(); err != nil {
		return writeError(a.path, err)
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return writeError(a.path, err)
	}
	untrack(a.f.Name())
	a.done = true
	return nil
}

// Abort closes and removes the temporary file, unless Commit succeeded.
func (a *File) Abort() {
	if !a.done {
		a.f.Close()
		os.Remove(a.f.Name())
		untrack(a.f.Name())
	}
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}
