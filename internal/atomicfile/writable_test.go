package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckWritableAcceptsFoldersToBeCreated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "new", "deeper")} {
		if err := CheckWritable(d); err != nil {
			t.Errorf("CheckWritable(%s): %v", d, err)
		}
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("CheckWritable left %v", names)
	}
}

func TestCheckWritableRefusesAPathThroughAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckWritable(filepath.Join(file, "out")); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a path under a file: error %v", err)
	}
}
