package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"amq/internal/atomicfile"
)

// lockOutput takes the lock on an output prefix (results/m for
// results/m_*) or file (a record) before any work, so that a second run
// writing the same outputs fails at once, naming the first, rather than
// both running to the end and replacing each other's files. A lock left
// by a run that ended without releasing it (killed) is taken over with a
// warning on w. With mkdir the prefix's folder is created first, and
// removed by release when the run leaves it empty; without, a missing
// folder, or a prefix without a file name part, is left for the command
// to report as before, unlocked.
//
// release, deferred by the command, removes the lock file; the signal
// path removes it too (atomicfile.RemoveAll).
func lockOutput(prefix string, mkdir bool, w io.Writer) (release func(), err error) {
	if strings.HasSuffix(prefix, string(filepath.Separator)) {
		return func() {}, nil
	}
	dir := filepath.Dir(prefix)
	var made atomicfile.Made
	if mkdir {
		if made, err = atomicfile.MkdirAll(dir); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	l, stale, err := atomicfile.LockPrefix(prefix)
	if err != nil {
		made.Undo()
		return nil, err
	}
	if stale != nil {
		fmt.Fprintf(w, "warning: %s: took over the lock of %s, which ended without releasing it\n", prefix, stale)
	}
	return func() {
		l.Unlock()
		made.Undo()
	}, nil
}
