//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
)

// TestQuantizeOnAFullDiskNamesTheOutput runs amq quantize into a folder on
// a 128 KiB tmpfs, too small for its outputs: the error names the output
// the user asked for (under --out's folder) and "no space left on
// device", no staging or temporary path, and the disk is left empty (the
// folder the run created removed).
func TestQuantizeOnAFullDiskNamesTheOutput(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a small tmpfs, which needs root to mount")
	}
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", disk).Run() })
	bin := buildAmq(t)
	res := filepath.Join(disk, "res")
	out, err := exec.Command(bin, "quantize", "--quiet",
		"--model", testfixture.Path(t, "quant", "transformer", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "transformer", "calib.npy"),
		"--batch-size", "8", "--out", filepath.Join(res, "m")).CombinedOutput()
	msg := string(out)
	if err == nil {
		t.Fatalf("quantize onto a full disk succeeded:\n%s", msg)
	}
	if !strings.Contains(msg, "cannot write "+filepath.Join(res, "m_")) || !strings.Contains(msg, ": no space left on device") || strings.Contains(msg, ".amq-") || strings.Contains(msg, ".tmp") {
		t.Errorf("message %q: want the output under %s and the cause, no temporary path", msg, res)
	}
	if left, _ := os.ReadDir(disk); len(left) != 0 {
		t.Errorf("the full disk holds %v", left[0].Name())
	}
	t.Logf("%s", strings.TrimSpace(msg))
}
