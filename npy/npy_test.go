package npy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// f32Want rebuilds testdata/f32.npy: arange(24).reshape(2,3,4)/4 - 2.
func f32Want() *onnx.Tensor {
	d := make([]float32, 24)
	for i := range d {
		d[i] = float32(i)/4 - 2
	}
	return onnx.NewTensor([]int{2, 3, 4}, d)
}

func TestReadNumPyFiles(t *testing.T) {
	t.Parallel()
	i64 := make([]int64, 5)
	for i := range i64 {
		i64[i] = int64(i) * -1000000000000
	}
	cases := []struct {
		file string
		want *onnx.Tensor
	}{
		{"f32.npy", f32Want()},
		{"f32_be.npy", f32Want()},
		{"f64.npy", onnx.NewTensor([]int{3, 2}, []float64{0, 1.0 / 3, 2.0 / 3, 1, 4.0 / 3, 5.0 / 3})},
		{"i64.npy", onnx.NewTensor([]int{5}, i64)},
		{"i32.npy", onnx.NewTensor([]int{1, 4}, []int32{-2, -1, 0, 1})},
		{"i8.npy", onnx.NewTensor([]int{4}, []int8{-128, -1, 0, 127})},
		{"u8.npy", onnx.NewTensor([]int{2, 2}, []uint8{0, 1, 254, 255})},
		{"bool.npy", onnx.NewTensor([]int{3}, []bool{true, false, true})},
		{"scalar.npy", onnx.NewTensor([]int{}, []float32{1.5})},
		{"empty.npy", onnx.NewTensor([]int{0, 3}, []float32{})},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got, err := ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != c.want.DType || !reflect.DeepEqual(got.Shape, c.want.Shape) || !reflect.DeepEqual(got.Data, c.want.Data) {
				t.Errorf("got %v %v %v, want %v %v %v", got.DType, got.Shape, got.Data, c.want.DType, c.want.Shape, c.want.Data)
			}
		})
	}
}

func TestReadRejectsUnsupportedLayouts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ file, msg string }{
		{"fortran.npy", "Fortran order"},
		{"f16.npy", "not supported"},
	} {
		_, err := ReadFile(filepath.Join("testdata", c.file))
		if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", c.file, err, c.msg)
		}
	}
}

// TestReadFailsCleanlyOnDamagedFiles feeds damaged files: each must fail cleanly, without a
// panic or an allocation of what the header claims.
func TestReadFailsCleanlyOnDamagedFiles(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile("testdata/f32.npy")
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(dict string) []byte {
		dict += "\n"
		b := []byte(magic + "\x01\x00")
		b = append(b, byte(len(dict)), byte(len(dict)>>8))
		return append(b, dict...)
	}
	cases := map[string][]byte{
		"empty":            {},
		"bad magic":        []byte("\x93NUMPX\x01\x00\x10\x00"),
		"truncated header": good[:40],
		"truncated data":   good[:len(good)-3],
		"trailing data":    append(append([]byte(nil), good...), 0, 0, 0, 0),
		"version 9":        []byte(magic + "\x09\x00\x10\x00"),
		"huge v2 header":   []byte(magic + "\x02\x00\xff\xff\xff\x7f"),
		"huge shape":       hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }"),
		"overflow shape":   hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"),
		"negative dim":     hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }"),
		"keys reordered":   hdr("{'shape': (2,), 'fortran_order': False, 'descr': '<f4', }"),
		"no newline":       []byte(magic + "\x01\x00\x04\x00{}  "),
		"object dtype":     hdr("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"),
		"bad order":        hdr("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }"),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			tensor, err := Read(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				t.Fatalf("no error, got %v", tensor)
			}
			t.Log(err)
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tensors := []*onnx.Tensor{
		f32Want(),
		onnx.NewTensor([]int{2}, []float64{-1e300, 3.25}),
		onnx.NewTensor([]int{3, 1}, []int64{-1 << 62, 0, 1<<62 + 5}),
		onnx.NewTensor([]int{2, 2}, []int32{-7, 7, 1 << 30, -1 << 31}),
		onnx.NewTensor([]int{1, 1, 3}, []int8{-128, 0, 127}),
		onnx.NewTensor([]int{3}, []uint8{0, 128, 255}),
		onnx.NewTensor([]int{2, 2}, []bool{true, false, false, true}),
		onnx.NewTensor([]int{}, []float32{-0.5}),
		onnx.NewTensor([]int{0, 4}, []float32{}),
		onnx.NewTensor([]int{2}, []uint16{1, 65535}),
	}
	for i, want := range tensors {
		path := filepath.Join(dir, "t.npy")
		if err := WriteFile(path, want); err != nil {
			t.Fatalf("tensor %d: %v", i, err)
		}
		raw, _ := os.ReadFile(path)
		if hl := 10 + int(raw[8]) + int(raw[9])<<8; hl%64 != 0 {
			t.Errorf("tensor %d: data starts at %d, not 64-byte aligned", i, hl)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatalf("tensor %d: %v", i, err)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !reflect.DeepEqual(got.Data, want.Data) {
			t.Errorf("tensor %d: got %v %v %v, want %v %v %v", i, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteErrorsLeaveNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := []*onnx.Tensor{
		{Name: "short", DType: onnx.Float, Shape: []int{2, 2}, Data: []float32{1}},
		{Name: "mixed", DType: onnx.Int64, Shape: []int{1}, Data: []float32{1}},
		{Name: "str", DType: onnx.String, Shape: []int{1}, Data: []string{"a"}},
	}
	for _, b := range bad {
		path := filepath.Join(dir, b.Name+".npy")
		err := WriteFile(path, b)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s", b.Name, err, path)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Errorf("%s: a failed write left %s", b.Name, path)
		}
	}
	if err := WriteFile(filepath.Join(dir, "no/such/dir/x.npy"), f32Want()); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

func TestReadNPZ(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"pair.npz", "pair_compressed.npz"} {
		got, err := ReadNPZFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d arrays, want 2", file, len(got))
		}
		x, y := got["x"], got["y"]
		if x == nil || y == nil {
			t.Fatalf("%s: arrays %v, want x and y", file, got)
		}
		if !reflect.DeepEqual(x.Data, f32Want().Data) || !reflect.DeepEqual(x.Shape, []int{2, 3, 4}) {
			t.Errorf("%s: x = %v %v", file, x.Shape, x.Data)
		}
		if !reflect.DeepEqual(y.Data, []int64{0, 1, 2}) {
			t.Errorf("%s: y = %v", file, y.Data)
		}
	}
}

// TestNumPyReadsOurFiles checks the other direction with NumPy itself.
func TestNumPyReadsOurFiles(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		testfixture.Missing(t, "no %s: %v", py, err)
	}
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "a.npy"), f32Want()); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "b.npy"), onnx.NewTensor([]int{2, 1}, []bool{false, true})); err != nil {
		t.Fatal(err)
	}
	script := `
import numpy as np, sys
a = np.load(sys.argv[1] + "/a.npy"); b = np.load(sys.argv[1] + "/b.npy")
assert a.dtype == np.float32 and a.shape == (2, 3, 4), (a.dtype, a.shape)
assert (a == np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 4 - 2).all()
assert b.dtype == np.bool_ and b.shape == (2, 1) and b.tolist() == [[False], [True]]
print("ok")
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named") {
			testfixture.Missing(t, "numpy missing: %s", out)
		}
		t.Fatalf("numpy: %v\n%s", err, out)
	}
}
