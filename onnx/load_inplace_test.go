package onnx_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/backend"
	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
	"amq/quant"
	_ "amq/sim"
)

// decoderModel is the LLM-style decoder fixture (scripts/decoder_fixture.py).
func decoderModel(t *testing.T) string {
	return testfixture.Path(t, "quant", "decoder", "model_op17.onnx")
}

// storedVariants writes the decoder inline and with external data into a
// folder and returns the ways LoadFile can read it: inline or external,
// each read into memory or memory-mapped.
func storedVariants(t *testing.T) map[string]func() *onnx.Model {
	t.Helper()
	src, err := os.ReadFile(decoderModel(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inline, ext := filepath.Join(dir, "inline.onnx"), filepath.Join(dir, "ext.onnx")
	if err := m.Save(inline, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ext, &onnx.SaveOptions{ExternalData: true}); err != nil {
		t.Fatal(err)
	}
	load := func(path string, mapMin int64) func() *onnx.Model {
		return func() *onnx.Model {
			t.Helper()
			defer onnx.SetMapMin(mapMin)()
			m, err := onnx.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	return map[string]func() *onnx.Model{
		"decoded":         func() *onnx.Model { m, _ := onnx.Load(src); return m },
		"inline read":     load(inline, 1<<62),
		"inline mapped":   load(inline, 0),
		"external read":   load(ext, 1<<62),
		"external mapped": load(ext, 0),
	}
}

func TestLoadFileGivesTheSameTensorsHoweverTheWeightsAreStored(t *testing.T) {
	variants := storedVariants(t)
	want := variants["decoded"]()
	for name, load := range variants {
		got := load()
		if len(got.Graph.Initializers) != len(want.Graph.Initializers) {
			t.Fatalf("%s: %d initializers, want %d", name, len(got.Graph.Initializers), len(want.Graph.Initializers))
		}
		for k, w := range want.Graph.Initializers {
			g := got.Graph.Initializers[k]
			if g == nil || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !reflect.DeepEqual(g.Data, w.Data) {
				t.Errorf("%s: initializer %q differs from the decoded model's", name, k)
			}
		}
	}
}

func TestChangingAMappedTensorLeavesTheFileAlone(t *testing.T) {
	for _, name := range []string{"inline mapped", "external mapped"} {
		load := storedVariants(t)[name]
		m := load()
		w := m.Graph.Initializers["embed.weight"]
		if w == nil {
			t.Fatalf("%s: no embed.weight", name)
		}
		before := w.Floats()[0]
		for i := range w.Floats() {
			w.Floats()[i] = 42
		}
		if again := load().Graph.Initializers["embed.weight"].Floats()[0]; again != before {
			t.Errorf("%s: reloaded embed.weight[0] = %v after writing the loaded tensor, want %v", name, again, before)
		}
	}
}

func TestLoadCopiesTheBytesItIsGiven(t *testing.T) {
	src, err := os.ReadFile(decoderModel(t))
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Clone(src)
	m, err := onnx.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Graph.Initializers {
		if f, ok := w.Data.([]float32); ok {
			for i := range f {
				f[i] = 7
			}
		}
	}
	if !bytes.Equal(src, keep) {
		t.Error("writing the tensors of a model from Load changed the bytes it was given")
	}
}

func TestMarshalWritesWhatMarshallingItsProtoWrites(t *testing.T) {
	paths := []string{decoderModel(t)}
	for _, f := range testfixture.Fixtures(t, "*.onnx") {
		paths = append(paths, f.Model)
	}
	models := map[string]*onnx.Model{}
	for _, p := range paths {
		m, err := onnx.LoadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		models[p] = m
	}
	// Empty tensors, strings, float16 and metadata take their own paths.
	m := models[decoderModel(t)].Clone()
	m.Metadata = map[string]string{"k": "v"}
	m.Graph.SetInitializer(&onnx.Tensor{Name: "empty_f", DType: onnx.Float, Shape: []int{0, 3}, Data: []float32{}})
	m.Graph.SetInitializer(&onnx.Tensor{Name: "empty_i", DType: onnx.Int64, Shape: []int{0}, Data: []int64{}})
	m.Graph.SetInitializer(&onnx.Tensor{Name: "s", DType: onnx.String, Shape: []int{2}, Data: []string{"a", ""}})
	m.Graph.SetInitializer(&onnx.Tensor{Name: "h", DType: onnx.Float16, Shape: []int{2}, Data: []float32{1.5, -2}})
	models["decoder with extras"] = m
	for p, m := range models {
		got, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		pm, err := m.ToProto()
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(pm)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal gives %d bytes that differ from the ModelProto's %d", p, len(got), len(want))
		}
	}
}

func TestFlowGivesTheSameFilesHoweverTheWeightsAreStored(t *testing.T) {
	x, err := npy.ReadFile(testfixture.Path(t, "quant", "decoder", "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := onnx.Data[int64](x)
	tokens := onnx.NewTensor([]int{16, x.Shape[1]}, ids[:16*x.Shape[1]])
	simple, err := quant.LoadSimpleConfig(testfixture.Path(t, "quant", "dmq.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Open("sim", backend.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]byte
	for _, name := range []string{"decoded", "inline read", "inline mapped", "external read", "external mapped"} {
		m := storedVariants(t)[name]()
		data, err := quant.NewTensorSource(map[string]*onnx.Tensor{"tokens": tokens}, 8)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if _, err := quant.RunFlow(m, be, data, filepath.Join(dir, "d"), quant.QuantizeOptions{Simple: simple, BatchNum: 2, NoEval: true}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string][]byte{}
		for _, f := range []string{"d_fake_quant_model.onnx", "d_deploy_model.onnx", "d_quant_config.json", "d_record.txt"} {
			if got[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		if want == nil {
			want = got
			continue
		}
		for f := range want {
			if !bytes.Equal(got[f], want[f]) {
				t.Errorf("%s: %s differs from the decoded model's", name, f)
			}
		}
	}
}

func TestPagedOutWeightsReadTheSameAfterwards(t *testing.T) {
	variants := storedVariants(t)
	want := variants["decoded"]()
	for _, name := range []string{"inline mapped", "external mapped"} {
		m := variants[name]()
		for _, w := range m.Graph.Initializers {
			w.PageOut()
		}
		m.PageOutWeights()
		for k, w := range want.Graph.Initializers {
			if !reflect.DeepEqual(m.Graph.Initializers[k].Data, w.Data) {
				t.Errorf("%s: initializer %q differs after paging out", name, k)
			}
		}
	}
}

func TestLoadFileRefusesAProtobufOver2GiB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file: no disk space, but the size protobuf cannot have.
	if err := f.Truncate(2 << 30); err != nil {
		t.Skipf("no sparse 2 GiB file here: %v", err)
	}
	f.Close()
	_, err = onnx.LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "external data") || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadFile of a 2 GiB model file: %v, want an error naming the file and advising external data", err)
	}
}
