package quant

import (
	"fmt"
	"os"
	"path/filepath"
)

// staging is a private folder beside a set of outputs: the files are
// written there, then moved into place together by commit, so that a
// failed run leaves none of them behind and replaces no old file.
type staging struct {
	dir string // the outputs' folder
	tmp string // the private folder inside dir
}

// newStaging creates the private folder in dir, which must exist; pattern
// names it as os.MkdirTemp does.
func newStaging(dir, pattern string) (*staging, error) {
	tmp, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &staging{dir: dir, tmp: tmp}, nil
}

// path returns where to write the output that will be dir/name.
func (s *staging) path(name string) string { return filepath.Join(s.tmp, name) }

// commit renames every staged file into dir (on the same file system). It
// checks first that no destination is a folder, which rename cannot
// replace: failing then, after some files were moved, would leave a mix of
// new and old outputs.
func (s *staging) commit() error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dst := filepath.Join(s.dir, e.Name())
		if st, err := os.Lstat(dst); err == nil && st.IsDir() {
			return fmt.Errorf("cannot write %s: it is a folder", dst)
		}
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(s.tmp, e.Name()), filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// discard removes the private folder with whatever commit did not move.
func (s *staging) discard() { os.RemoveAll(s.tmp) }
