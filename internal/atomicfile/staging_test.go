package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// stage creates a staging folder in dir holding the files name -> content.
func stage(t *testing.T, dir string, files map[string]string) *Staging {
	t.Helper()
	st, err := NewStaging(dir, "stage-")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(st.Path(name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestStagingCommitMovesEveryFile checks that commit puts every staged
// file in place, replacing an older one, and that discard then removes the
// empty private folder.
func TestStagingCommitMovesEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := stage(t, dir, map[string]string{"a": "new a", "b": "new b"})
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "new a", "b": "new b"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q (%v), want %q", name, got, err, want)
		}
	}
	st.Discard()
	if got := entries(t, dir); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("folder holds %v after commit and discard, want [a b]", got)
	}
}

// TestStagingCommitRefusesFolderBeforeMovingAny checks that commit fails,
// naming the destination, when one is a folder, and moves no file first:
// "a" sorts before the folder "b", so moving as it goes would have put it
// in place.
func TestStagingCommitRefusesFolderBeforeMovingAny(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := stage(t, dir, map[string]string{"a": "new a", "b": "new b"})
	err := st.Commit()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b")) || !strings.Contains(err.Error(), "folder") {
		t.Errorf("commit onto a folder: error %v, want one naming it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Error("commit moved a before failing")
	}
	st.Discard()
	if got := entries(t, dir); !slices.Equal(got, []string{"b"}) {
		t.Errorf("folder holds %v after the failed commit and discard, want [b]", got)
	}
}

// TestStagingDiscardLeavesNothing checks that discarding staged files
// leaves the folder as it was.
func TestStagingDiscardLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := stage(t, dir, map[string]string{"a": "a", "b": "b"})
	st.Discard()
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("folder holds %v after discard, want nothing", got)
	}
}

// TestConcurrentCommitsLeaveOneRunsSet checks that two runs committing the
// same outputs into one folder at once leave the complete set of one of
// them each time, never a mix.
func TestConcurrentCommitsLeaveOneRunsSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{"m_deploy_model.onnx", "m_fake_quant_model.onnx", "m_quant_config.json", "m_record.txt"}
	for round := range 50 {
		var wg sync.WaitGroup
		for run := range 2 {
			wg.Go(func() {
				files := map[string]string{}
				for _, n := range names {
					files[n] = fmt.Sprintf("run %d round %d", run, round)
				}
				st := stage(t, dir, files)
				defer st.Discard()
				if err := st.Commit(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var first string
		for i, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = string(b)
			} else if string(b) != first {
				t.Fatalf("round %d: %s holds %q but %s %q: the outputs mix two runs", round, n, b, names[0], first)
			}
		}
	}
}
