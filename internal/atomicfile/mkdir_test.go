package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMkdirAllUndoRemovesOnlyEmptyFoldersItMade checks that Undo removes
// the folders MkdirAll created, deepest first, never one that existed, and
// stops at one that holds a file.
func TestMkdirAllUndoRemovesOnlyEmptyFoldersItMade(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	made, err := MkdirAll(filepath.Join(dir, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 {
		t.Errorf("made %v, want a/b and a", made)
	}
	made.Undo()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("after Undo the folder holds %v", names)
	}

	made, err = MkdirAll(filepath.Join(dir, "c", "d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "c", "d", "kept"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	made.Undo()
	if _, err := os.Stat(filepath.Join(dir, "c", "d", "kept")); err != nil {
		t.Errorf("Undo removed a folder that holds a file: %v", err)
	}
	if made, err := MkdirAll(dir); err != nil || len(made) != 0 {
		t.Errorf("MkdirAll of an existing folder made %v (%v)", made, err)
	}
}

// TestRemoveAllRemovesEmptyFoldersMkdirAllMade checks that RemoveAll,
// which a signal handler calls, also removes an output folder the run
// created once its staging is gone.
func TestRemoveAllRemovesEmptyFoldersMkdirAllMade(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out", "m")
	if _, err := MkdirAll(out); err != nil {
		t.Fatal(err)
	}
	st, err := NewStaging(out, ".amq-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Discard()
	RemoveAll()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("after RemoveAll the folder holds %v", names)
	}
}
