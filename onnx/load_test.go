package onnx

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/onnx/onnxpb"
)

// hostileModel is a one-node model (y = Add(x, w)) whose initializer w is
// the given tensor.
func hostileModel(w *onnxpb.TensorProto) *onnxpb.ModelProto {
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: ptr(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(Float))}}}}
	}
	w.Name = ptr("w")
	return &onnxpb.ModelProto{
		IrVersion:   ptr(int64(8)),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(13))}},
		Graph: &onnxpb.GraphProto{
			Name:        ptr("g"),
			Node:        []*onnxpb.NodeProto{{OpType: ptr("Add"), Input: []string{"x", "w"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{w},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}

func floatRaw(n int) []byte { return make([]byte, 4*n) }

func externalTensor(dims []int64, kv ...string) *onnxpb.TensorProto {
	p := &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: dims, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}
	for i := 0; i+1 < len(kv); i += 2 {
		p.ExternalData = append(p.ExternalData, &onnxpb.StringStringEntryProto{Key: ptr(kv[i]), Value: ptr(kv[i+1])})
	}
	return p
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadBounded loads a model from a file in dir and fails the test when
// loading allocates more than limit bytes, so that a size claimed by a
// hostile file is never believed before it is checked.
func loadBounded(t *testing.T, dir string, b []byte, limit uint64) (*Model, error) {
	t.Helper()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := LoadFile(path)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("loading allocated %d bytes, more than %d", got, limit)
	}
	return m, err
}

func TestLoadHostile(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.bin")
	os.WriteFile(secret, floatRaw(4), 0o644)
	os.WriteFile(filepath.Join(dir, "w.bin"), floatRaw(4), 0o644)
	os.Symlink(secret, filepath.Join(dir, "link.bin"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink(outside, filepath.Join(dir, "sub", "out"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}

	const limit = 32 << 20
	cases := []struct {
		name string
		w    *onnxpb.TensorProto
		want string // a word the error must contain
	}{
		{"huge dims raw", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1 << 40, 1 << 40}, RawData: floatRaw(1)}, "dimensions"},
		{"huge dims typed", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1 << 40, 1 << 40}, FloatData: []float32{1}}, "dimensions"},
		{"huge dims external", externalTensor([]int64{1 << 40, 1 << 40}, "location", "w.bin"), "dimensions"},
		{"big but bounded dims", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1 << 16, 1 << 16}, FloatData: []float32{1}}, "values"},
		{"overflowing dims", &onnxpb.TensorProto{DataType: ptr(int32(Double)), Dims: []int64{1 << 62, 1 << 62, 4}, RawData: floatRaw(2)}, "dimensions"},
		{"negative dims", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{-4, -1}, RawData: floatRaw(4)}, "negative"},
		{"raw length mismatch", &onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2, 3}, RawData: floatRaw(5)}, "raw_data"},
		{"typed count mismatch", &onnxpb.TensorProto{DataType: ptr(int32(Int64)), Dims: []int64{3}, Int64Data: []int64{1, 2}}, "values"},
		{"unknown dtype", &onnxpb.TensorProto{DataType: ptr(int32(99)), Dims: []int64{1}, RawData: floatRaw(1)}, "99"},
		{"string raw", &onnxpb.TensorProto{DataType: ptr(int32(String)), Dims: []int64{1}, RawData: []byte("abc")}, "raw_data"},
		{"ext parent", externalTensor([]int64{4}, "location", "../x"), "leaves"},
		{"ext absolute", externalTensor([]int64{4}, "location", "/etc/passwd"), "leaves"},
		{"ext symlink", externalTensor([]int64{4}, "location", "link.bin"), "out of"},
		{"ext symlinked folder", externalTensor([]int64{4}, "location", "sub/out/secret.bin"), "out of"},
		{"ext no location", externalTensor([]int64{4}, "offset", "0"), "location"},
		{"ext missing file", externalTensor([]int64{4}, "location", "nope.bin"), "nope.bin"},
		{"ext folder", externalTensor([]int64{4}, "location", "sub"), "sub"},
		{"ext fifo", externalTensor([]int64{4}, "location", "fifo"), "regular"},
		{"ext offset past EOF", externalTensor([]int64{4}, "location", "w.bin", "offset", "8"), "past the end"},
		{"ext offset overflow", externalTensor([]int64{4}, "location", "w.bin", "offset", "9223372036854775800"), "past the end"},
		{"ext negative offset", externalTensor([]int64{4}, "location", "w.bin", "offset", "-8"), "negative"},
		{"ext bad offset", externalTensor([]int64{4}, "location", "w.bin", "offset", "ten"), "offset"},
		{"ext huge length", externalTensor([]int64{4}, "location", "w.bin", "length", "1099511627776"), "length"},
		{"ext length past EOF", externalTensor([]int64{8}, "location", "w.bin", "length", "32"), "past the end"},
		{"ext string", &onnxpb.TensorProto{DataType: ptr(int32(String)), Dims: []int64{1}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: ptr("location"), Value: ptr("w.bin")}}}, "external"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := mustMarshal(t, hostileModel(c.w))
			m, err := loadBounded(t, dir, b, limit)
			if err == nil {
				t.Fatalf("loaded: %v", m.Graph.Initializers["w"])
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"w"`) || !strings.Contains(err.Error(), "model.onnx") {
				t.Errorf("error %q should name the file, the tensor and contain %q", err, c.want)
			}
		})
	}

	// Through Load (no file), external data has no folder to come from.
	b := mustMarshal(t, hostileModel(externalTensor([]int64{4}, "location", "w.bin")))
	if _, err := Load(b); err == nil || !strings.Contains(err.Error(), "externally") {
		t.Errorf("Load with external data: %v", err)
	}
	// The same model loads from its file: the cases above fail for their
	// own reason, not because external data never works.
	m, err := loadBounded(t, dir, b, limit)
	if err != nil {
		t.Fatalf("valid external data: %v", err)
	}
	if w := m.Graph.Initializers["w"]; w == nil || !reflect.DeepEqual(w.Data, []float32{0, 0, 0, 0}) {
		t.Errorf("external w = %v", w)
	}
}

// TestLoadMalformedBytes checks damaged encodings: no panic, an error.
func TestLoadMalformedBytes(t *testing.T) {
	good := mustMarshal(t, hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{2}, FloatData: []float32{1, 2}}))
	if _, err := Load(good); err != nil {
		t.Fatalf("the intact model: %v", err)
	}
	// Every truncation must load or fail cleanly; most cut a field short.
	failed := 0
	for i := 0; i < len(good); i++ {
		if _, err := Load(good[:i]); err != nil {
			failed++
		}
	}
	if failed < len(good)/2 {
		t.Errorf("only %d of %d truncations were rejected", failed, len(good))
	}
	bad := map[string][]byte{
		"empty":                 {},
		"graph as varint":       {0x3a &^ 7, 0x01},              // field 7 with wire type 0
		"graph length past end": {0x3a, 0xff, 0xff, 0xff, 0x0f}, // 4 GiB claimed
		"bad varint":            {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"group wire type":       {0x3b, 0x3c},
		"text":                  []byte("ir_version: 8\ngraph { }\n"),
	}
	for name, b := range bad {
		if m, err := Load(b); err == nil {
			t.Errorf("%s: loaded %+v", name, m)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Rank above the bound of value infos.
	deep := hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1}, FloatData: []float32{1}})
	shape := &onnxpb.TensorShapeProto{}
	for range 100 {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}})
	}
	deep.Graph.Input[0].Type.GetTensorType().Shape = shape
	if _, err := Load(mustMarshal(t, deep)); err == nil || !strings.Contains(err.Error(), "rank") {
		t.Errorf("rank 100 value info: %v", err)
	}
	// A cycle and a node without op_type.
	cyc := hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1}, FloatData: []float32{1}})
	cyc.Graph.Node = append(cyc.Graph.Node,
		&onnxpb.NodeProto{Name: ptr("a"), OpType: ptr("Relu"), Input: []string{"b_out"}, Output: []string{"a_out"}},
		&onnxpb.NodeProto{Name: ptr("b"), OpType: ptr("Relu"), Input: []string{"a_out"}, Output: []string{"b_out"}})
	if _, err := Load(mustMarshal(t, cyc)); err == nil {
		t.Error("a cyclic graph loaded")
	}
	noop := hostileModel(&onnxpb.TensorProto{DataType: ptr(int32(Float)), Dims: []int64{1}, FloatData: []float32{1}})
	noop.Graph.Node[0].OpType = nil
	if _, err := Load(mustMarshal(t, noop)); err == nil || !strings.Contains(err.Error(), "op_type") {
		t.Errorf("node without op_type: %v", err)
	}
}
