//go:build unix

package main

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"amq/npy"
	"amq/onnx"
)

// folderFiles maps the names in dir to their contents.
func folderFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		files[e.Name()] = string(b)
	}
	return files
}

// outputFolder makes an output folder holding an older run's record and
// a file of the user's, which a stopped run must leave as they are.
func outputFolder(t *testing.T) (dir string, before map[string]string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"m_record.txt": "an older run's record\n", "notes.txt": "mine\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, folderFiles(t, dir)
}

// stopWhen starts cmd, sends sig once ready reports true, and returns how
// long the process took to exit after the signal, with its exit error.
func stopWhen(t *testing.T, cmd *exec.Cmd, stderr *strings.Builder, sig syscall.Signal, ready func() bool) (time.Duration, error) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the phase to interrupt did not start in 60 s\n%s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	return time.Since(sent), err
}

// staged lists the entries of the staging folders of quantize in dir.
func staged(dir string) (folders, files []string) {
	folders, _ = filepath.Glob(filepath.Join(dir, ".amq-quantize-*"))
	for _, f := range folders {
		es, _ := os.ReadDir(f)
		for _, e := range es {
			files = append(files, e.Name())
		}
	}
	return folders, files
}

// checkStopped checks that a run stopped by sig exited with 128+sig
// within 2 s with the signal named, and left the output folder as it was.
func checkStopped(t *testing.T, sig syscall.Signal, took time.Duration, err error, stderr string, out string, before map[string]string) {
	t.Helper()
	checkSignalExit(t, sig, took, err, stderr)
	if after := folderFiles(t, out); !maps.Equal(after, before) {
		t.Errorf("the stopped run changed the output folder: %d entries %v, want %v", len(after), keys(after), keys(before))
	}
}

// checkSignalExit checks that a run stopped by sig exited with 128+sig
// within 2 s of the signal (took) and named the signal on stderr.
func checkSignalExit(t *testing.T, sig syscall.Signal, took time.Duration, err error, stderr string) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(sig) {
		t.Fatalf("exit %v, want status %d (the run may have ended before the signal)\n%s", err, 128+int(sig), stderr)
	}
	if took > 2*time.Second {
		t.Errorf("amq took %v to stop", took)
	}
	if want := "stopped by " + sig.String(); !strings.Contains(stderr, want) {
		t.Errorf("stderr %q: want %q", stderr, want)
	}
	t.Logf("%v: exit %d %v after the signal", sig, exit.ExitCode(), took.Round(time.Millisecond))
}

func keys(m map[string]string) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return k
}

// TestSignalDuringCalibrationLeavesOutputFolderAsItWas sends SIGINT and
// SIGTERM to amq quantize processes mid-calibration: each stops within 2 s
// with status 130 or 143, names the signal, and leaves the output folder
// (an older record and a file of the user's) as it was.
func TestSignalDuringCalibrationLeavesOutputFolderAsItWas(t *testing.T) {
	t.Parallel()
	bin := buildAmq(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out, before := outputFolder(t)
			cmd := exec.Command(bin, transformerArgs(t, "1", filepath.Join(out, "m"))...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			took, err := stopWhen(t, cmd, &stderr, sig, func() bool {
				folders, _ := staged(out)
				return len(folders) > 0
			})
			checkStopped(t, sig, took, err, stderr.String(), out, before)
		})
	}
}

// largeMatMulModel writes a model x[1,n] -> MatMul(W[n,n]) -> y whose
// saved models take long enough to write (tens of MB) that a signal can
// arrive while they are written, and one sample for it.
func largeMatMulModel(t *testing.T, n int) (model, data string) {
	t.Helper()
	dir := t.TempDir()
	g := &onnx.Graph{Name: "big", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{1, n})}}
	rng := rand.New(rand.NewSource(1))
	w := make([]float32, n*n)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	W := onnx.NewTensor([]int{n, n}, w)
	W.Name = "W"
	g.SetInitializer(W)
	g.Nodes = []*onnx.Node{{Name: "/fc/MatMul", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"y"}}}
	g.Outputs = []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}
	g.Reindex()
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
	model = filepath.Join(dir, "big.onnx")
	if err := m.Save(model, nil); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	data = filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(data, onnx.NewTensor([]int{1, n}, x)); err != nil {
		t.Fatal(err)
	}
	return model, data
}

// TestSignalDuringSaveLeavesOutputFolderAsItWas sends SIGINT and SIGTERM
// to amq quantize processes while they write their models (a file has
// appeared in the staging folder): each stops within 2 s with status 130
// or 143 and leaves the output folder as it was, the older record
// included.
func TestSignalDuringSaveLeavesOutputFolderAsItWas(t *testing.T) {
	t.Parallel()
	bin := buildAmq(t)
	model, data := largeMatMulModel(t, 3072)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out, before := outputFolder(t)
			cmd := exec.Command(bin, "quantize", "--quiet", "--no-eval", "--no-report",
				"--model", model, "--data", data, "--out", filepath.Join(out, "m"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			took, err := stopWhen(t, cmd, &stderr, sig, func() bool {
				_, files := staged(out)
				return len(files) > 0
			})
			checkStopped(t, sig, took, err, stderr.String(), out, before)
		})
	}
}

// TestSIGKILLedRunsStagingIsSweptByNextRun kills amq quantize with SIGKILL
// mid-calibration, which leaves its staging folder (named after its
// process), and checks that the next run into the folder removes it and
// writes its outputs.
func TestSIGKILLedRunsStagingIsSweptByNextRun(t *testing.T) {
	t.Parallel()
	bin := buildAmq(t)
	out := filepath.Join(t.TempDir(), "out")
	args := transformerArgs(t, "1", filepath.Join(out, "m"), "--no-report")
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	var left []string
	stopWhen(t, cmd, &stderr, syscall.SIGKILL, func() bool {
		left, _ = staged(out)
		return len(left) > 0
	})
	if want := fmt.Sprintf(".amq-quantize-%d-", cmd.Process.Pid); len(left) != 1 || !strings.HasPrefix(filepath.Base(left[0]), want) {
		t.Fatalf("staging %v: want one folder named %s...", left, want)
	}
	if _, err := os.Stat(left[0]); err != nil {
		t.Fatalf("the killed run's staging is gone before the next run: %v", err)
	}
	next := exec.Command(bin, append(args, "--no-eval", "--batch-num", "1")...)
	if b, err := next.CombinedOutput(); err != nil {
		t.Fatalf("next run: %v\n%s", err, b)
	}
	if _, err := os.Stat(left[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed run's staging %s is still there (%v)", left[0], err)
	}
	if _, err := os.Stat(filepath.Join(out, "m_deploy_model.onnx")); err != nil {
		t.Errorf("next run wrote no deploy model: %v", err)
	}
}
