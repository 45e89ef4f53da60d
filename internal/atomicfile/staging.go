package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// NewStaging creates the private folder in dir, which must exist, named
// prefix, this process's id, "-" and a random part, so that the next run
// can tell whose it is. It first removes the folders of that prefix that
// a process no longer running left behind (a run killed with SIGKILL).
func NewStaging(dir, prefix string) (*Staging, error) {
	removeStale(dir, prefix)
	tmp, err := os.MkdirTemp(dir, fmt.Sprintf("%s%d-*", prefix, os.Getpid()))
	if err != nil {
		if c, ok := cause(err); ok {
			err = c
		}
		return nil, fmt.Errorf("cannot write into %s: %w", dir, err)
	}
	s := &Staging{dir: dir, tmp: tmp}
	track(tmp)
	return s, nil
}

// removeStale removes the staging folders in dir named prefix<pid>-...
// whose process is gone.
func removeStale(dir, prefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, ok := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); ok && err == nil && n > 0 && n != os.Getpid() && !running(n) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Path returns where to write the output that will be dir/name.
func (s *Staging) Path(name string) string { return filepath.Join(s.tmp, name) }

// Commit renames every staged file into dir (on the same file system). It
// checks first that no destination is a folder, which rename cannot
// replace: failing then, after some files were moved, would leave a mix of
// new and old outputs.
//
// Commits into one folder take turns (a lock on the folder), so two runs
// writing the same outputs at once leave the complete set of one of them,
// never a mix. The CLI's runs never meet here, as each holds the lock on
// its output prefix (LockPrefix) from its start; this keeps callers of
// the library that take no such lock (quant.RunFlow, quant.Save) from
// mixing their sets, at the cost of a flock per commit.
func (s *Staging) Commit() error {
	unlock, err := lockDir(s.dir)
	if err != nil {
		return fmt.Errorf("lock %s: %w", s.dir, err)
	}
	defer unlock()
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
		dst := filepath.Join(s.dir, e.Name())
		if err := os.Rename(filepath.Join(s.tmp, e.Name()), dst); err != nil {
			return writeError(dst, err)
		}
	}
	return nil
}

// Discard removes the private folder with whatever Commit did not move.
func (s *Staging) Discard() {
	os.RemoveAll(s.tmp)
	untrack(s.tmp)
}
