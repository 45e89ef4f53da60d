package onnx

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"amq/onnx/onnxpb"
)

func TestSaveExternalDataRoundTrip(t *testing.T) {
	dir := t.TempDir()
	big := make([]float32, 3000)
	for i := range big {
		big[i] = float32(i)*0.25 - 100
	}
	i64 := make([]int64, 300)
	for i := range i64 {
		i64[i] = int64(i) << 40
	}
	m, err := Load(mustMarshal(t, hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2}, FloatData: []float32{1, 2}})))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	g.SetInitializer(&Tensor{Name: "big", DType: Float, Shape: []int{30, 100}, Data: big})
	g.SetInitializer(&Tensor{Name: "i64", DType: Int64, Shape: []int{300}, Data: i64})
	g.SetInitializer(&Tensor{Name: "small", DType: Int8, Shape: []int{3}, Data: []int8{-1, 0, 1}})
	path := filepath.Join(dir, "m.onnx")
	if err := m.Save(path, &SaveOptions{ExternalData: true}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path + ".data")
	if err != nil {
		t.Fatalf("external data file: %v", err)
	}
	if st.Size() < int64(4*len(big)+8*len(i64)) {
		t.Errorf("%s.data has %d bytes, want at least %d", path, st.Size(), 4*len(big)+8*len(i64))
	}
	if ms, _ := os.Stat(path); ms.Size() > 2048 {
		t.Errorf("model file has %d bytes: tensors were not moved out", ms.Size())
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range g.Initializers {
		got := back.Graph.Initializers[name]
		if got == nil || got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !reflect.DeepEqual(got.Data, want.Data) {
			t.Errorf("initializer %q: got %v, want %v", name, got, want)
		}
	}
	// The model refers to the data file by name only: it can move.
	moved := filepath.Join(t.TempDir(), "m.onnx")
	os.Rename(path, moved)
	os.Rename(path+".data", moved+".data")
	if _, err := LoadFile(moved); err != nil {
		t.Errorf("moved model: %v", err)
	}
}

func TestSaveFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	m, err := Load(mustMarshal(t, hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2}, FloatData: []float32{1, 2}})))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	g.SetInitializer(&Tensor{Name: "a", DType: Float, Shape: []int{1000}, Data: make([]float32, 1000)})
	// Data that does not match its dtype cannot be encoded.
	g.SetInitializer(&Tensor{Name: "z", DType: Float, Shape: []int{2000}, Data: make([]int64, 2000)})
	for _, ext := range []bool{false, true} {
		path := filepath.Join(dir, "m.onnx")
		err := m.Save(path, &SaveOptions{ExternalData: ext})
		if err == nil {
			t.Fatalf("external=%v: a model with a broken tensor saved", ext)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("external=%v: a failed save left %v", ext, names)
		}
	}
	delete(g.Initializers, "z")
	if err := m.Save(filepath.Join(dir, "missing", "m.onnx"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("save into a missing folder: %v", err)
	}
}
