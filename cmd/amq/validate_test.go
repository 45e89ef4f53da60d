package main

import (
	"bytes"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"amq/cgo/fake/fakeacl"
	"amq/npy"
	"amq/onnx"
)

// quantModelFile writes x[2,6] -> Gemm -> AscendQuant -> AscendAntiQuant -> Relu.
func quantModelFile(t *testing.T) (model, data string) {
	g := &onnx.Graph{Name: "v", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{2, 6})}}
	w := make([]float32, 18)
	for i := range w {
		w[i] = float32(i%7-3) / 4
	}
	W := onnx.NewTensor([]int{6, 3}, w)
	W.Name = "W"
	g.SetInitializer(W)
	mk := func(op, name string, in, out []string, attrs ...any) *onnx.Node {
		n := &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: out}
		for i := 0; i+1 < len(attrs); i += 2 {
			n.SetAttr(attrs[i].(string), attrs[i+1])
		}
		return n
	}
	g.Nodes = []*onnx.Node{
		mk("Gemm", "/fc/Gemm", []string{"x", "W"}, []string{"h"}),
		mk("AscendQuant", "/fc/quant", []string{"h"}, []string{"q"}, "scale", float32(16), "offset", float32(0), "dst_type", "INT8"),
		mk("AscendAntiQuant", "/fc/anti", []string{"q"}, []string{"dq"}, "scale", float32(1.0/16), "offset", float32(0)),
		mk("Relu", "/relu", []string{"dq"}, []string{"y"}),
	}
	g.Outputs = []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}
	g.Reindex()
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
	dir := t.TempDir()
	model = filepath.Join(dir, "m_deploy_model.onnx")
	if err := m.Save(model, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 12)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	data = filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(data, onnx.NewTensor([]int{2, 6}, x)); err != nil {
		t.Fatal(err)
	}
	return model, data
}

// TestValidateAscendAgainstSimCatchesDrift compares the fake device with
// sim layer by layer: identical results pass, a numeric drift on the device
// is reported with the output it affects.
func TestValidateAscendAgainstSimCatchesDrift(t *testing.T) {
	requireAscendFake(t)
	model, data := quantModelFile(t)
	var out bytes.Buffer
	err := validate(&out, &validateFlags{model: model, data: []string{data}, backend: backendFlags{name: "ascend", device: 1}, against: "sim", layers: true, tol: 1e-6})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"output", "AscendQuant", "q ", "0.0000%", "ok: within tolerance"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}

	// Numeric drift on the device must be caught.
	if err := fakeacl.SetDrift(1e-2); err != nil {
		t.Fatal(err)
	}
	defer fakeacl.SetDrift(0)
	out.Reset()
	err = validate(&out, &validateFlags{model: model, data: []string{data}, backend: backendFlags{name: "ascend", device: 0}, against: "sim", layers: true, tol: 1e-3})
	if err == nil || !strings.Contains(err.Error(), "differ by more than 0.001") || !strings.Contains(err.Error(), "y (") {
		t.Fatalf("drift not reported: %v\n%s", err, out.String())
	}
	t.Logf("report with drift:\n%s", out.String())
}

// TestValidatePrecisionModeMatchesBoard runs the fp16 norm fixture
// (sim/testdata/fp16) on the fake NPU compiled as real ATC compiles by
// default, force_fp16: sim in float32 disagrees with the board, sim
// emulating force_fp16 agrees at a tight tolerance and names the nodes
// whose sums of squares overflow; with force_fp32 given to both, they
// agree again.
func TestValidatePrecisionModeMatchesBoard(t *testing.T) {
	requireAscendFake(t)
	t.Setenv("AMQ_FAKE_ATC_PRECISION_DEFAULT", "force_fp16")
	model, data := "../../sim/testdata/fp16/model.onnx", "../../sim/testdata/fp16/x.npy"
	flags := func(prec string) *validateFlags {
		return &validateFlags{model: model, data: []string{data}, against: "sim", tol: 1e-6,
			backend: backendFlags{name: "ascend", device: -1, precision: prec}}
	}
	var out bytes.Buffer
	err := validate(&out, flags(""))
	if err == nil || !strings.Contains(err.Error(), "rms_out") || !strings.Contains(err.Error(), "ln_out") {
		t.Fatalf("float32 sim against the force_fp16 board: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := validate(&out, flags("force_fp16")); err != nil {
		t.Fatalf("force_fp16 on both: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"precision mode force_fp16", "fp16 (sim, force_fp16): 2 tensor(s) overflow", "rms/ReduceSumSquare", "ln/Pow", "ok: within tolerance"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if err := validate(&out, flags("force_fp32")); err != nil {
		t.Fatalf("force_fp32 on both: %v\n%s", err, out.String())
	}
	if err := validate(&out, flags("fp8")); err == nil || !strings.Contains(err.Error(), "--precision") {
		t.Errorf("--precision fp8: %v", err)
	}
}
