//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"amq/onnx"
)

// sparseNpy writes a float32 .npy of shape [samples, width] whose first
// `filled` samples are random and whose rest is a hole of zeros, so that a
// file of gigabytes costs a few kilobytes of writes and no disk space.
func sparseNpy(t *testing.T, path string, samples, width, filled int) {
	t.Helper()
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", samples, width)
	pad := (64 - (10+len(dict)+1)%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	rng := rand.New(rand.NewSource(1))
	for range filled * width {
		binary.Write(&b, binary.LittleEndian, float32(rng.NormFloat64()))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(10+len(hdr)) + int64(samples)*int64(width)*4); err != nil {
		t.Fatal(err)
	}
}

// TestLargeNpyCalibratesInBoundedMemory calibrates a small model on a
// 4 GiB .npy with --batch-num 2: the data is read batch by batch, so the
// process's peak resident memory (the kernel's count, see peakRSS) stays
// under 200 MB, and the run takes seconds.
func TestLargeNpyCalibratesInBoundedMemory(t *testing.T) {
	t.Parallel()
	bin := buildAmq(t)
	dir := t.TempDir()
	const width = 16
	samples := (4 << 30) / (width * 4) // 4 GiB of data
	data := filepath.Join(dir, "calib.npy")
	sparseNpy(t, data, samples, width, 64)
	model := filepath.Join(dir, "m.onnx")
	g := &onnx.Graph{Name: "small", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: []onnx.Dim{{Param: "N"}, {Value: width}}}}
	w := make([]float32, width*4)
	for i := range w {
		w[i] = float32(i%7-3) / 4
	}
	W := onnx.NewTensor([]int{width, 4}, w)
	W.Name = "W"
	g.SetInitializer(W)
	g.Nodes = []*onnx.Node{{Name: "/fc/MatMul", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"y"}}}
	g.Outputs = []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}
	g.Reindex()
	if err := (&onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}).Save(model, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, peak, err := peakRSS(t, bin, "quantize", "--quiet", "--no-report", "--model", model, "--data", data,
		"--batch-num", "2", "--threads", "1", "--out", filepath.Join(dir, "out", "m"))
	if err != nil {
		t.Fatalf("amq quantize: %v\n%s", err, out)
	}
	took := time.Since(start)
	t.Logf("4 GiB .npy, 2 batches: peak RSS %.1f MB, %v", float64(peak)/1e6, took.Round(time.Millisecond))
	if peak > 200e6 {
		t.Errorf("peak RSS %.1f MB, want under 200 MB for a 4 GiB file", float64(peak)/1e6)
	}
	if !strings.Contains(string(out), "2 batches of 32 samples") {
		t.Errorf("output %q: want 2 batches of 32 samples", out)
	}
}
