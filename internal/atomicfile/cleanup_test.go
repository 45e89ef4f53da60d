package atomicfile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// TestNewStagingRemovesStagingOfAProcessThatIsGone checks that the folder
// a killed run left behind (named after its process) is removed by the
// next run into the folder, while a live process's folder is kept.
func TestNewStagingRemovesStagingOfAProcessThatIsGone(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no process check on Windows")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dead := fmt.Sprintf(".amq-quantize-%d-123", gone.Process.Pid)
	alive := fmt.Sprintf(".amq-quantize-%d-456", os.Getppid())
	other := fmt.Sprintf(".amq-save-%d-789", gone.Process.Pid)
	for _, d := range []string{dead, alive, other} {
		if err := os.MkdirAll(filepath.Join(dir, d, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := NewStaging(dir, ".amq-quantize-")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Discard()
	names := entries(t, dir)
	if slices.Contains(names, dead) || !slices.Contains(names, alive) || !slices.Contains(names, other) {
		t.Errorf("folder holds %v: want %s removed, %s (a live process's) and %s (another prefix) kept", names, dead, alive, other)
	}
}

// TestRemoveAllRemovesWhatIsInUse checks that RemoveAll, which a signal
// handler calls, removes staging folders and temporary files not yet
// committed, and nothing committed.
func TestRemoveAllRemovesWhatIsInUse(t *testing.T) {
	dir := t.TempDir()
	st, err := NewStaging(dir, "stage-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path("a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(filepath.Join(dir, "partial"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "done"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	RemoveAll()
	if names := entries(t, dir); !slices.Equal(names, []string{"done"}) {
		t.Errorf("after RemoveAll the folder holds %v, want only done", names)
	}
	f.Abort()
	st.Discard()
}
