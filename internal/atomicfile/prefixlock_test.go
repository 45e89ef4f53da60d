//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSecondLockOnPrefixFailsNamingHolder checks that a prefix held by
// one lock cannot be locked again (a second open of the file, as another
// run's) and that the error names the holder's pid and start time; once
// unlocked, the lock file is gone and the prefix can be locked again.
func TestSecondLockOnPrefixFailsNamingHolder(t *testing.T) {
	t.Parallel()
	prefix := filepath.Join(t.TempDir(), "m")
	l, stale, err := LockPrefix(prefix)
	if err != nil || stale != nil {
		t.Fatalf("first lock: %v, stale %v", err, stale)
	}
	start := time.Now()
	_, _, err = LockPrefix(prefix)
	var busy *BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second lock: %v, want a BusyError", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the second lock took %v to fail", d)
	}
	want := fmt.Sprintf("%s: in use by amq pid %d started %s (another run writes these outputs)",
		prefix, os.Getpid(), processStart.Local().Format(time.DateTime))
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if busy.Holder.Command != strings.Join(os.Args, " ") {
		t.Errorf("holder's command %q, want %q", busy.Holder.Command, strings.Join(os.Args, " "))
	}
	l.Unlock()
	l.Unlock() // a second release (the signal path and a deferred call) does nothing
	if _, err := os.Stat(LockPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Unlock: %v, want it gone", err)
	}
	l, _, err = LockPrefix(prefix)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.Unlock()
}

// TestPrefixesInOneFolderDoNotBlock checks that two prefixes in one folder
// are locked at once.
func TestPrefixesInOneFolderDoNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, _, err := LockPrefix(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Unlock()
	b, _, err := LockPrefix(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatalf("prefix b while a is held: %v", err)
	}
	b.Unlock()
}

// TestStaleLockIsTakenOver checks that a lock file left by a process that
// is gone (its record there, no flock held) is taken over, and that its
// record is returned for the note.
func TestStaleLockIsTakenOver(t *testing.T) {
	t.Parallel()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "m")
	old := fmt.Sprintf("pid %d\nstarted 2026-12-02T01:40:12Z\nhost h\ncommand amq quantize --out m\n", gone.Process.Pid)
	if err := os.WriteFile(LockPath(prefix), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	l, stale, err := LockPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if stale == nil || stale.PID != gone.Process.Pid || stale.Command != "amq quantize --out m" ||
		!stale.Started.Equal(time.Date(2026, 12, 2, 1, 40, 12, 0, time.UTC)) {
		t.Fatalf("stale %+v: want the record of pid %d", stale, gone.Process.Pid)
	}
	// The host is named, as it is not this one.
	if want := fmt.Sprintf("amq pid %d on h started %s", gone.Process.Pid, stale.Started.Local().Format(time.DateTime)); stale.String() != want {
		t.Errorf("stale holder %q, want %q", stale, want)
	}
	b, err := os.ReadFile(LockPath(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if h := parseRecord(b); h.PID != os.Getpid() {
		t.Errorf("lock file names pid %d after the takeover, want %d:\n%s", h.PID, os.Getpid(), b)
	}
}

// TestLockKeepsOneHolderUnderContention has goroutines take and release
// the lock on one prefix as fast as they can (each lock a file opened
// anew, as separate runs'): never two hold it at once, although each
// release unlinks the file others may have open.
func TestLockKeepsOneHolderUnderContention(t *testing.T) {
	t.Parallel()
	prefix := filepath.Join(t.TempDir(), "m")
	var holders, won atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				l, _, err := LockPrefix(prefix)
				var busy *BusyError
				if errors.As(err, &busy) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if n := holders.Add(1); n > 1 {
					t.Errorf("%d holders at once", n)
				}
				won.Add(1)
				holders.Add(-1)
				l.Unlock()
			}
		})
	}
	wg.Wait()
	if won.Load() == 0 {
		t.Error("no goroutine ever got the lock")
	}
	if _, err := os.Stat(LockPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left: %v", err)
	}
}

// TestRemoveAllReleasesLocks checks that RemoveAll, the signal path,
// removes the lock files and releases the locks.
func TestRemoveAllReleasesLocks(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "m")
	if _, _, err := LockPrefix(prefix); err != nil {
		t.Fatal(err)
	}
	RemoveAll()
	if _, err := os.Stat(LockPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after RemoveAll: %v, want it gone", err)
	}
	l, _, err := LockPrefix(prefix)
	if err != nil {
		t.Fatalf("lock after RemoveAll: %v", err)
	}
	l.Unlock()
}

// TestLockByRecordWhereFlockIsMissing checks the fallback for file
// systems without flock: a record naming a live process on this host
// keeps the prefix busy; one naming a process that is gone is taken over.
func TestLockByRecordWhereFlockIsMissing(t *testing.T) {
	t.Parallel()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for _, c := range []struct {
		pid  int
		busy bool
	}{{os.Getppid(), true}, {gone.Process.Pid, false}} {
		prefix := filepath.Join(t.TempDir(), "m")
		rec := fmt.Sprintf("pid %d\nstarted 2026-12-02T01:40:12Z\nhost %s\ncommand amq\n", c.pid, host)
		if err := os.WriteFile(LockPath(prefix), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(LockPath(prefix), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		l, stale, err := lockByRecord(f, LockPath(prefix), prefix)
		var busy *BusyError
		switch {
		case c.busy && (!errors.As(err, &busy) || busy.Holder.PID != c.pid):
			t.Errorf("record of live pid %d: %v, want busy", c.pid, err)
		case !c.busy && (err != nil || stale == nil || stale.PID != c.pid):
			t.Errorf("record of gone pid %d: %v, stale %v, want it taken over", c.pid, err, stale)
		}
		if l != nil {
			l.Unlock()
		}
	}
}
