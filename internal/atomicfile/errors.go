package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// writeError is the error of writing the output path: that path, which
// the user asked for, and the system's cause (no space left on device,
// permission denied, disk quota exceeded), not the temporary file's name.
// errors.Is still finds the cause (syscall.ENOSPC).
func writeError(path string, err error) error {
	if c, ok := cause(err); ok {
		return fmt.Errorf("%s: %w", path, c)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// cause is the system error behind err: the errno of a failed call, or
// the error of a failed operation on a path.
func cause(err error) (error, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err, true
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err, true
	}
	return nil, false
}

// Err turns an error of writing into the staging folder into one that
// names the output it was for as the user will see it (dir/name) and the
// system's cause, instead of the temporary paths a few wrappers deep. An
// error that is not about a staged file or has no system cause is
// returned as it is.
func (s *Staging) Err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, s.tmp+string(filepath.Separator))
	if i < 0 {
		return err
	}
	c, ok := cause(err)
	if !ok {
		return err
	}
	name := msg[i+len(s.tmp)+1:]
	if j := strings.IndexAny(name, ": /"+string(filepath.Separator)); j >= 0 {
		name = name[:j]
	}
	// A file being written is ".<name>.tmp<random>" (Create).
	if base, ok := strings.CutPrefix(name, "."); ok {
		if k := strings.LastIndex(base, ".tmp"); k > 0 {
			name = base[:k]
		}
	}
	return fmt.Errorf("cannot write %s: %w", filepath.Join(s.dir, name), c)
}
