package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Staging is a private folder beside a set of outputs: the files are
// written there, then moved into place together by Commit, so that a
// failed run leaves none of them behind and replaces no old file. Discard,
// deferred right after NewStaging, removes the folder with whatever Commit
// did not move.
type Staging struct {
	dir string // the outputs' folder
	tmp string // the private folder inside dir
}

// NewStaging creates the private folder in dir, which must exist; pattern
// names it as os.MkdirTemp does.
func NewStaging(dir, pattern string) (*Staging, error) {
	tmp, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &Staging{dir: dir, tmp: tmp}, nil
}

// Path returns where to write the output that will be dir/name.
func (s *Staging) Path(name string) string { return filepath.Join(s.tmp, name) }

// Commit renames every staged file into dir (on the same file system). It
// checks first that no destination is a folder, which rename cannot
// replace: failing then, after some files were moved, would leave a mix of
// new and old outputs.
func (s *Staging) Commit() error {
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

// Discard removes the private folder with whatever Commit did not move.
func (s *Staging) Discard() { os.RemoveAll(s.tmp) }
