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
	"time"

	"amq/internal/testfixture"
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
	cmd := exec.Command(bin, "quantize", "--quiet",
		"--model", testfixture.Path(t, "quant", "transformer", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "transformer", "calib.npy"),
		"--batch-size", "1", "--threads", "1", "--out", filepath.Join(out, "m"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		staged, _ := filepath.Glob(filepath.Join(out, ".amq-quantize-*"))
		if len(staged) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no staging folder appeared in 30 s\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %v, want status 143 (the run may have ended before the signal)\n%s", err, stderr.String())
	}
	if d := time.Since(sent); d > 2*time.Second {
		t.Errorf("amq took %v to stop", d)
	}
	if !strings.Contains(stderr.String(), "stopped by terminated") {
		t.Errorf("stderr %q: want the signal named", stderr.String())
	}
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
