package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/onnx/onnxpb"
)

// fuzzSeedModels are small conformance models covering initializers,
// attributes of every kind, Constant nodes and several inputs/outputs.
var fuzzSeedModels = []string{
	"node/test_add/model.onnx",
	"node/test_conv_with_strides_padding/model.onnx",
	"node/test_constant/model.onnx",
	"node/test_split_equal_parts_1d/model.onnx",
	"node/test_if/model.onnx",
	"node/test_cast_FLOAT_to_STRING/model.onnx",
	"pytorch-converted/test_BatchNorm1d_3d_input_eval/model.onnx",
	"simple/test_expand_shape_model1/model.onnx",
}

// FuzzLoad feeds arbitrary bytes to Load: it must never panic, and a model
// that loads must marshal, load again and marshal to the same bytes, and
// survive Save with external data and LoadFile.
func FuzzLoad(f *testing.F) {
	for _, name := range fuzzSeedModels {
		if b, err := os.ReadFile(filepath.Join(conformanceDir, name)); err == nil {
			f.Add(b)
		}
	}
	for _, w := range []*onnxpb.TensorProto{
		{DataType: ptr(int32(Float)), Dims: []int64{2, 3}, RawData: make([]byte, 24)},
		{DataType: ptr(int32(Float16)), Dims: []int64{2}, Int32Data: []int32{0x3c00, 0x7e00}},
		{DataType: ptr(int32(Int64)), Dims: []int64{1 << 40, 1 << 40}, Int64Data: []int64{1}},
		{DataType: ptr(int32(Bool)), Dims: []int64{3}, RawData: []byte{0, 1, 2}},
		{DataType: ptr(int32(String)), Dims: []int64{1}, StringData: [][]byte{[]byte("s")}},
		externalTensor([]int64{4}, "location", "../x"),
	} {
		b, err := proto.Marshal(hostileModel(w))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(data)
		if err != nil {
			return
		}
		b1, err := m.Marshal()
		if err != nil {
			t.Fatalf("a loaded model does not marshal: %v", err)
		}
		m2, err := Load(b1)
		if err != nil {
			t.Fatalf("a marshaled model does not load: %v", err)
		}
		b2, err := m2.Marshal()
		if err != nil {
			t.Fatalf("second marshal: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("marshal, load, marshal changed the model (%d -> %d bytes)", len(b1), len(b2))
		}
		if len(m.Graph.Initializers) == 0 {
			return
		}
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := m.Save(path, &SaveOptions{ExternalData: true, ExternalThreshold: 1}); err != nil {
			t.Fatalf("save with external data: %v", err)
		}
		m3, err := LoadFile(path)
		if err != nil {
			t.Fatalf("reload with external data: %v", err)
		}
		b3, err := m3.Marshal()
		if err != nil {
			t.Fatalf("marshal after external reload: %v", err)
		}
		if !bytes.Equal(b1, b3) {
			t.Fatalf("save with external data and reload changed the model")
		}
	})
}
