package quant

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// TestFloat16DecoderQuantizesFromItsValues runs the DMQ flow on the
// decoder in float16: amq quantizes it as the float32 model of its values
// (widenedModel), so the same 15 layers are quantized as in float32, the
// caller's float16 model is left as it was, the fake-quant model keeps the
// model's input and output types, and in ONNX Runtime its held-out logits
// stay as close to the float model's as the float32 decoder's do (38 dB
// there).
func TestFloat16DecoderQuantizesFromItsValues(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	m := testfixture.HalfDecoder(t, onnx.Float16)
	before, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, "dmq.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{"tokens": readDecoderTokens(t, "calib.npy", 64)}, 32)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "decoder16"), QuantizeOptions{Simple: simple, BatchNum: 2, NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 15 {
		t.Errorf("%d layers quantized, want 15, as in float32", len(rep.Layers))
	}
	if after, err := m.Marshal(); err != nil || string(after) != string(before) {
		t.Errorf("the caller's float16 model changed (%v)", err)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, mi := fake.Graph.Inputs[0], m.Graph.Inputs[0]; fi.DType != mi.DType {
		t.Errorf("fake-quant input %v, want the model's %v", fi.DType, mi.DType)
	}
	if fo, mo := fake.Graph.Outputs[0], m.Graph.Outputs[0]; fo.DType != mo.DType {
		t.Errorf("fake-quant output %v, want the model's %v", fo.DType, mo.DType)
	}
	x := readDecoderTokens(t, "test.npy", 64)
	s := sqnrDB(t, ortOutput(t, widenedModel(m), x), ortOutput(t, fake, x))
	t.Logf("float16 decoder, DMQ: held-out output SQNR %.1f dB", s)
	if s < 35 {
		t.Errorf("held-out output SQNR %.1f dB, want ≥ 35 (the float32 decoder's is about 38)", s)
	}
}

// TestFloat16DecoderFlowSameWhetherWeightsWidenUpFrontOrPerLayer runs the
// DMQ flow on the float16 decoder loaded two ways: with LoadFile, which
// widens every weight to float32 up front (how amq quantize loaded float16
// models before), and with LoadFileHalves, whose large weights stay 16-bit
// (onnx.HalfFloats once Prepare widens the graph) and are widened a layer
// at a time by the flow. The record, config, fake-quant and deploy models
// must be the same bytes.
func TestFloat16DecoderFlowSameWhetherWeightsWidenUpFrontOrPerLayer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "decoder16.onnx")
	if err := testfixture.HalfDecoder(t, onnx.Float16).Save(path, nil); err != nil {
		t.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, "dmq.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	flow := func(load func(string) (*onnx.Model, error), name string) *QuantizeReport {
		m, err := load(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := NewTensorSource(map[string]*onnx.Tensor{"tokens": readDecoderTokens(t, "calib.npy", 32)}, 32)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := RunFlow(m, testSim, data, filepath.Join(dir, name, "decoder16"), QuantizeOptions{Simple: simple, BatchNum: 1, NoEval: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rep
	}
	m, err := onnx.LoadFileHalves(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := CreateQuantConfig(m, simple, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	compact := 0
	for _, l := range p.Layers {
		if _, ok := p.Model.Graph.Initializers[l.Node.Input(1)].Data.(onnx.HalfFloats); ok {
			compact++
		}
	}
	if compact == 0 {
		t.Fatal("no quantized layer's weight is held as onnx.HalfFloats: the test compares nothing")
	}
	t.Logf("%d of %d quantized layers' weights held 16-bit", compact, len(p.Layers))
	old, now := flow(onnx.LoadFile, "upfront"), flow(onnx.LoadFileHalves, "perlayer")
	for _, f := range []struct{ name, a, b string }{
		{"record", old.RecordPath, now.RecordPath},
		{"config", old.ConfigPath, now.ConfigPath},
		{"fake-quant model", old.FakeQuantPath, now.FakeQuantPath},
		{"deploy model", old.DeployPath, now.DeployPath},
	} {
		a, errA := os.ReadFile(f.a)
		b, errB := os.ReadFile(f.b)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("the %s differs between weights widened up front and per layer", f.name)
		}
	}
}
