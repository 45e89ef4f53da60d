//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockDir takes an exclusive lock on folder dir, waiting for another
// holder, and returns its release. Linux and the BSDs lock a folder's
// descriptor as a file's, so no lock file is left in the folder.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockFile takes the flock on the lock file path for prefix without
// waiting, creating the file, and writes this process's record into it.
func lockFile(path, prefix string) (*Lock, *Holder, error) {
	// A holder unlinks its file before it lets go of the lock: a lock
	// won on a file no longer at path is worth nothing, so try again on
	// the new one. Each retry means another run just released its lock.
	var removed *Holder // a stale lock file removed (another user's)
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		readOnly := errors.Is(err, fs.ErrPermission)
		if readOnly { // another user's file: flock needs no write access
			f, err = os.Open(path)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("lock %s: %w", prefix, err)
		}
		err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			if !stillAt(f, path) { // its holder is letting go
				f.Close()
				continue
			}
			h := holderOf(f)
			f.Close()
			return nil, nil, &BusyError{Prefix: prefix, Holder: h}
		case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			// A file system without locks (some network and FUSE
			// mounts): the record alone tells whether its run is alive.
			return lockByRecord(f, path, prefix)
		case err != nil:
			f.Close()
			return nil, nil, fmt.Errorf("lock %s: %w", prefix, err)
		}
		if !stillAt(f, path) {
			f.Close()
			continue
		}
		if readOnly {
			// Stale, and not ours to write: remove it and make our own.
			h := holderOf(f)
			err := os.Remove(path)
			f.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("lock %s: %s, left by %s, which no longer runs: %w", prefix, path, h, err)
			}
			removed = &h
			continue
		}
		l, stale, err := takeOver(f, path, prefix)
		if stale == nil {
			stale = removed
		}
		return l, stale, err
	}
	return nil, nil, fmt.Errorf("lock %s: %s keeps changing", prefix, path)
}

// takeOver makes f, locked, this process's lock file: a record already in
// it is that of a run that ended without removing it (the kernel released
// its flock), returned as stale.
func takeOver(f *os.File, path, prefix string) (*Lock, *Holder, error) {
	var stale *Holder
	if b, _ := io.ReadAll(f); len(b) > 0 {
		h := parseRecord(b)
		stale = &h
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("lock %s: %w", prefix, err)
	}
	if _, err := f.WriteAt(record(), 0); err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("lock %s: %w", prefix, err)
	}
	return &Lock{path: path, f: f}, stale, nil
}

// lockByRecord is the lock where flock is not supported: the file's
// record names a live process on this host (not this one), or the lock is
// taken over. Two runs starting in the same instant may both win.
func lockByRecord(f *os.File, path, prefix string) (*Lock, *Holder, error) {
	b, _ := io.ReadAll(f)
	h := parseRecord(b)
	me, _ := os.Hostname()
	if h.PID > 0 && h.PID != os.Getpid() && (h.Host != me || running(h.PID)) {
		f.Close()
		return nil, nil, &BusyError{Prefix: prefix, Holder: h}
	}
	f.Seek(0, io.SeekStart)
	return takeOver(f, path, prefix)
}

// holderOf reads the record of the run holding the lock on f. A holder
// writes its record just after taking the lock: an empty file is read
// again for a moment.
func holderOf(f *os.File) Holder {
	buf := make([]byte, 4096)
	for range 50 {
		if n, _ := f.ReadAt(buf, 0); n > 0 {
			return parseRecord(buf[:n])
		}
		time.Sleep(2 * time.Millisecond)
	}
	return Holder{}
}

// stillAt reports whether path still names the file f has open.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// flock calls flock(2) on f, again when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
