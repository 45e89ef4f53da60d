package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A run holds a Lock on the output prefix it writes (results/model for
// results/model_*.onnx, ...) from its start to its end, so that a second
// run on the same prefix fails at once, naming the first, instead of both
// running to the end and replacing each other's outputs. The lock is a
// file beside the outputs, ".<name>.amq-lock", that the holder locks with
// flock, which the kernel releases when the process ends however it ends
// (SIGKILL included), and in which it records who it is, for the second
// run's message. Different prefixes in one folder have different files and
// do not block each other.
type Lock struct {
	path string
	once sync.Once
	f    *os.File // nil where nothing is locked
}

// Holder is the record of the run that holds, or held, a Lock.
type Holder struct {
	PID     int
	Started time.Time
	Host    string
	Command string
}

// String says who the holder is: "amq pid 1234 started 2026-12-02
// 01:40:12", with the host when it is not this one.
func (h Holder) String() string {
	if h.PID == 0 {
		return "another amq run"
	}
	s := fmt.Sprintf("amq pid %d", h.PID)
	if me, _ := os.Hostname(); h.Host != "" && h.Host != me {
		s += " on " + h.Host
	}
	if !h.Started.IsZero() {
		s += " started " + h.Started.Local().Format(time.DateTime)
	}
	return s
}

// BusyError is LockPrefix's error when another run holds the prefix.
type BusyError struct {
	Prefix string
	Holder Holder
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s: in use by %s (another run writes these outputs)", e.Prefix, e.Holder)
}

// LockPath is the lock file of the output prefix (a folder and a file
// name prefix): ".<name>.amq-lock" in the prefix's folder.
func LockPath(prefix string) string {
	dir, name := filepath.Split(prefix)
	return filepath.Join(dir, "."+name+".amq-lock")
}

// LockPrefix takes the lock on the output prefix, whose folder must exist,
// without waiting: when another run holds it, the error is a *BusyError
// naming that run. stale is the record of a run that held the lock and
// ended without releasing it (killed, or its machine went down): its lock
// is taken over, and the caller should say so.
func LockPrefix(prefix string) (l *Lock, stale *Holder, err error) {
	if prefix == "" || strings.HasSuffix(prefix, string(filepath.Separator)) {
		return nil, nil, fmt.Errorf("output prefix %q must end in a file name prefix", prefix)
	}
	l, stale, err = lockFile(LockPath(prefix), prefix)
	if err != nil {
		return nil, nil, err
	}
	held.Store(l, true)
	return l, stale, nil
}

// Unlock removes the lock file and releases the lock. The file goes
// first, so that a run waiting for this one's lock file finds it unlinked
// and opens a new one (lockFile checks). Unlock may be called more than
// once, as the signal path (RemoveAll) and the run's own deferred call
// may both.
func (l *Lock) Unlock() {
	l.once.Do(func() {
		held.Delete(l)
		if l.f == nil {
			return
		}
		os.Remove(l.path)
		l.f.Close()
	})
}

// held are the locks this process holds, for RemoveAll.
var held sync.Map

// unlockAll releases every lock this process holds.
func unlockAll() {
	held.Range(func(k, _ any) bool {
		k.(*Lock).Unlock()
		return true
	})
}

// processStart is when this process started, as far as the package can tell
// (its initialisation), for the record of its locks.
var processStart = time.Now()

// record is this process's entry in a lock file.
func record() []byte {
	host, _ := os.Hostname()
	return fmt.Appendf(nil, "pid %d\nstarted %s\nhost %s\ncommand %s\n",
		os.Getpid(), processStart.UTC().Format(time.RFC3339), host, strings.Join(os.Args, " "))
}

// parseRecord reads a lock file's record; a missing or unreadable field
// stays zero.
func parseRecord(b []byte) Holder {
	var h Holder
	for _, line := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "pid":
			h.PID, _ = strconv.Atoi(val)
		case "started":
			h.Started, _ = time.Parse(time.RFC3339, val)
		case "host":
			h.Host = val
		case "command":
			h.Command = val
		}
	}
	return h
}
