package dataset

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"amq/onnx"
)

// model is a graph with one input of type dt and shape dims, -1 for a
// dynamic dimension: Open reads nothing else of a model.
func model(dt onnx.DataType, dims ...int) *onnx.Graph {
	return &onnx.Graph{Inputs: []*onnx.ValueInfo{input("x", dt, dims...)}}
}

func input(name string, dt onnx.DataType, dims ...int) *onnx.ValueInfo {
	shape := make([]onnx.Dim, len(dims))
	for i, d := range dims {
		shape[i] = onnx.Dim{Value: int64(d)}
		if d < 0 {
			shape[i] = onnx.Dim{Param: "N"}
		}
	}
	return &onnx.ValueInfo{Name: name, DType: dt, Shape: shape}
}

// open opens path for g and returns the source and the notes it wrote.
func open(t *testing.T, g *onnx.Graph, path string, opt Options) (*Source, string) {
	t.Helper()
	var notes bytes.Buffer
	opt.Notes = &notes
	s, err := Open(g, path, opt)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s, notes.String()
}

// openFails checks that Open fails with an error that contains every one
// of want.
func openFails(t *testing.T, g *onnx.Graph, path string, opt Options, want ...string) {
	t.Helper()
	s, err := Open(g, path, opt)
	if err == nil {
		t.Fatalf("Open(%s) = %d samples, want an error", path, s.Samples)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open(%s): error %q lacks %q", path, err, w)
		}
	}
}

// readFails checks that Open accepts path (whose header or size tells
// nothing wrong) and that reading its batches then fails with an error
// that contains every one of want: values are checked as each batch is
// read.
func readFails(t *testing.T, g *onnx.Graph, path string, opt Options, want ...string) {
	t.Helper()
	s, err := Open(g, path, opt)
	if err != nil {
		t.Fatalf("Open(%s): %v; values are checked as batches are read", path, err)
	}
	defer s.Close()
	for i := range s.Len() {
		if _, err = s.Batch(i); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatalf("%s: every batch read, want an error", path)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q lacks %q", path, err, w)
		}
	}
}

// all reads every batch of s and joins them on axis 0 as float32.
func all(t *testing.T, s *Source, name string) *onnx.Tensor {
	t.Helper()
	var data []float32
	var shape []int
	for i := range s.Len() {
		in, err := s.Batch(i)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		b := in[name]
		if b.Name != name {
			t.Errorf("batch %d: tensor named %q, want %q", i, b.Name, name)
		}
		data = append(data, b.Floats()...)
		shape = append([]int{0}, b.Shape[1:]...)
	}
	shape[0] = s.Len() * s.Size
	return onnx.NewTensor(shape, data)
}

// testdata is the path of a file under testdata.
func testdata(elem ...string) string {
	return filepath.Join(append([]string{"testdata"}, elem...)...)
}
