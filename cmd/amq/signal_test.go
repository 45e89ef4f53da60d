//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSIGTERMStopsQuantizeAndLeavesNothing runs amq quantize as a process,
// sends it SIGTERM once its staging folder exists (mid-calibration), and
// checks that it exits at once with status 143 and a message, leaving no
// output and no staging folder.
func TestSIGTERMStopsQuantizeAndLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := buildAmq(t)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, transformerArgs(t, "1", filepath.Join(out, "m"))...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	took, err := stopWhen(t, cmd, &stderr, syscall.SIGTERM, func() bool {
		folders, _ := staged(out)
		return len(folders) > 0
	})
	checkSignalExit(t, syscall.SIGTERM, took, err, stderr.String())
	left, err := os.ReadDir(out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // the run removes the folder it created
		t.Fatal(err)
	}
	if len(left) != 0 {
		names := make([]string, len(left))
		for i, e := range left {
			names[i] = e.Name()
		}
		t.Errorf("the stopped run left %v", names)
	}
}
