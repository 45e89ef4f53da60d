package dataset

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// writeBin writes values little-endian, as numpy's tofile does on x86 and
// Arm.
func writeBin(t *testing.T, path string, values any) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := binary.Write(f, binary.LittleEndian, values); err != nil {
		t.Fatal(err)
	}
}

// TestBinFilesHoldWholeSamplesInNameOrder checks a folder of .bin files of
// one and of several samples each: samples in file-name order, batches
// that span files, --input-shape with the batch dimension, and other files
// left out with a note.
func TestBinFilesHoldWholeSamplesInNameOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 2x3 samples; sample k holds k*10 .. k*10+5.
	sample := func(ks ...int) []float32 {
		var v []float32
		for _, k := range ks {
			for j := range 6 {
				v = append(v, float32(k*10+j))
			}
		}
		return v
	}
	writeBin(t, filepath.Join(dir, "b.bin"), sample(1, 2, 3)) // three samples
	writeBin(t, filepath.Join(dir, "a.bin"), sample(0))
	writeBin(t, filepath.Join(dir, "c.bin"), sample(4))
	os.WriteFile(filepath.Join(dir, "list.txt"), []byte("a.bin\n"), 0o644)
	g := model(onnx.Float, -1, 2, 3)
	for _, shape := range [][]int{nil, {2, 3}, {1, 2, 3}} {
		s, notes := open(t, g, dir, Options{BatchSize: 2, Raw: &RawOptions{Shape: shape}})
		if s.Samples != 5 || s.Len() != 2 {
			t.Fatalf("--input-shape %v: %d samples in %d batches, want 5 in 2", shape, s.Samples, s.Len())
		}
		if got := all(t, s, "x").Floats(); !slices.Equal(got, sample(0, 1, 2, 3)) {
			t.Errorf("--input-shape %v: samples %v, want 0..3 in order", shape, got)
		}
		if !strings.Contains(notes, "not read: 1 other file (list.txt)") {
			t.Errorf("notes %q do not name list.txt", notes)
		}
	}
}

// TestBinOfTheWrongLengthNamesFileAndSampleSize checks a file whose length
// is not a multiple of one sample: the error names it, its size and the
// sample's.
func TestBinOfTheWrongLengthNamesFileAndSampleSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	writeBin(t, good, make([]float32, 6))
	writeBin(t, bad, make([]float32, 7))
	g := model(onnx.Float, -1, 2, 3)
	openFails(t, g, dir, Options{}, bad+": 28 bytes, not a multiple of 24", "float32 [2 3]", "--input-shape")
	openFails(t, g, good, Options{Raw: &RawOptions{Shape: []int{3, 3}}}, "dimension 1 is 3, the model's is 2")
	openFails(t, g, good, Options{Raw: &RawOptions{Shape: []int{6}}}, "--input-shape [6] has rank 1")
	openFails(t, model(onnx.Float, -1, -1, 3), good, Options{}, "give --input-shape", `input "x"`)
}

// TestBinDTypesAreCastToTheInput checks --dtype: float16 files feed a
// float32 input with a note; int64 token ids feed an int32 input, and an
// id out of its range is an error naming the file and its sample there,
// found by Open before any batch.
func TestBinDTypesAreCastToTheInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.bin")
	halves := []uint16{onnx.Float32ToFloat16(0.5), onnx.Float32ToFloat16(-2), onnx.Float32ToFloat16(1.5), onnx.Float32ToFloat16(3)}
	writeBin(t, p, halves)
	s, notes := open(t, model(onnx.Float, -1, 2), p, Options{Raw: &RawOptions{DType: onnx.Float16}})
	if got := all(t, s, "x").Floats(); !slices.Equal(got, []float32{0.5, -2, 1.5, 3}) {
		t.Errorf("float16 samples %v", got)
	}
	if !strings.Contains(notes, "float16 data cast to float32") {
		t.Errorf("notes %q lack the cast", notes)
	}

	d2 := t.TempDir()
	writeBin(t, filepath.Join(d2, "0.bin"), []int64{1, 2, 3, 4})
	writeBin(t, filepath.Join(d2, "1.bin"), []int64{5, 6, 7, math.MaxInt32 + 1})
	g := model(onnx.Int32, -1, 2)
	readFails(t, g, d2, Options{Raw: &RawOptions{DType: onnx.Int64}}, filepath.Join(d2, "1.bin")+": sample 1", "2147483648 does not fit int32", `input "x"`)
	openFails(t, g, d2, Options{Raw: &RawOptions{DType: onnx.Bool}}, "--dtype bool", "cannot feed")
}
