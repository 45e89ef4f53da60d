package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// started begins writing out.bin in a fresh folder and writes content,
// without committing; the test aborts it at its end.
func started(t *testing.T, content string) (f *File, dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "out.bin")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Abort)
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	return f, dir, path
}

func TestWriteFileReplacesTheFileAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new" {
		t.Errorf("read back %q, %v; want %q", b, err, "new")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "out.bin" {
		t.Errorf("folder holds %v, want only out.bin", names)
	}
}

func TestUncommittedFileIsNotInPlace(t *testing.T) {
	f, dir, path := started(t, "partial")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("before Commit, %s: %v; want it absent", path, err)
	}
	f.Abort()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("an aborted write left %v", names)
	}
}

func TestAbortAfterCommitKeepsTheFile(t *testing.T) {
	f, dir, path := started(t, "done")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if b, err := os.ReadFile(path); err != nil || string(b) != "done" {
		t.Errorf("read back %q, %v; want %q", b, err, "done")
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want only out.bin", names)
	}
}

func TestFailedCommitLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	// A folder in the way: the rename fails.
	path := filepath.Join(dir, "taken")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("x")); err == nil {
		t.Fatal("writing over a non-empty folder succeeded")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "taken" {
		t.Errorf("a failed write left %v", names)
	}
}

func TestWriteFileIntoMissingFolderFails(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "missing", "out.bin"), []byte("x"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
	}
}

// TestCommitSyncsBeforeRenaming makes the sync fail (the file is closed
// under it): Commit reports it, naming the file, and renames nothing.
func TestCommitSyncsBeforeRenaming(t *testing.T) {
	f, dir, path := started(t, "x")
	f.f.Close()
	err := f.Commit()
	if !errors.Is(err, os.ErrClosed) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Commit: %v; want the sync's os.ErrClosed, prefixed with the path", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failed Commit, %s: %v; want it absent", path, err)
	}
	f.Abort()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("a failed Commit left %v after Abort", names)
	}
}
