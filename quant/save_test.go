package quant

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// minMaxRecord calibrates with plain min/max (computed here, independently
// of the package's IFMR/ARQ): asymmetric activations from the float run in
// ONNX Runtime, per-channel weights for convolutions, per-tensor for Gemm.
func minMaxRecord(t *testing.T, m *onnx.Model, layers []*Layer, in map[string]*onnx.Tensor) Record {
	t.Helper()
	c := m.Clone()
	for _, l := range layers {
		c.Graph.AddOutput(l.Input)
	}
	out := runORT(t, c, in)
	rec := Record{}
	for _, l := range layers {
		x := out[l.Input]
		if x == nil {
			x = in[l.Input]
		}
		lo, hi := 0.0, 0.0
		for _, v := range x.Floats() {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		s := float32((hi - lo) / 255)
		o := int32(math.RoundToEven(-128 - lo/float64(s)))
		w, _ := m.Graph.Constant(l.Weight)
		nch := 1
		if l.Type == "Conv" {
			nch = w.Shape[0]
		}
		per := w.Len() / nch
		sw := make([]float32, nch)
		for ch := range nch {
			a := 0.0
			for _, v := range w.Floats()[ch*per : (ch+1)*per] {
				a = max(a, math.Abs(float64(v)))
			}
			sw[ch] = float32(a / 127)
		}
		rec[l.Name] = &LayerRecord{ScaleD: s, OffsetD: o, ScaleW: sw, OffsetW: make([]int32, nch), HasQuant: true}
	}
	return rec
}

func TestSaveMLPComputesIntegerArithmetic(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	fx := testfixture.Named(t, "mlp/model_op13")
	m := fx.Load(t)
	in := map[string]*onnx.Tensor{"input": fx.Input(t)}
	layers, _, err := FindLayers(m, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := minMaxRecord(t, m, layers, in)
	prefix := filepath.Join(t.TempDir(), "mlp")
	rep, err := Save(m, layers, nil, rec, prefix, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Quantized) != 3 {
		t.Fatalf("quantized %v", rep.Quantized)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := onnx.LoadFile(rep.DeployPath)
	if err != nil {
		t.Fatal(err)
	}

	// Deploy tensors of /fc1/Gemm against the formulas.
	r := rec["/fc1/Gemm"]
	w, _ := m.Graph.Constant("fc1.weight")
	b, _ := m.Graph.Constant("fc1.bias")
	n := dep.Graph.Node("/fc1/Gemm")
	wq, ok := dep.Graph.Initializers[n.Inputs[1]]
	if !ok || wq.DType != onnx.Int8 {
		t.Fatalf("deploy weight %q: %v", n.Inputs[1], wq)
	}
	wantW := make([]int8, w.Len())
	for i, v := range w.Floats() {
		wantW[i] = int8(max(-128, min(127, math.RoundToEven(float64(v)/float64(r.ScaleW[0])))))
		if wq.Data.([]int8)[i] != wantW[i] {
			t.Fatalf("int8 weight %d: %d, want %d", i, wq.Data.([]int8)[i], wantW[i])
		}
	}
	deq := r.ScaleD * r.ScaleW[0]
	bq := dep.Graph.Initializers[n.Inputs[2]]
	wantB := make([]int32, b.Len())
	for i, v := range b.Floats() {
		wantB[i] = int32(math.RoundToEven(float64(v) / float64(deq)))
		if bq.Data.([]int32)[i] != wantB[i] {
			t.Fatalf("int32 bias %d: %d, want %d", i, bq.Data.([]int32)[i], wantB[i])
		}
	}
	q := dep.Graph.Producer(n.Inputs[0])
	if q.OpType != "AscendQuant" || q.AttrFloat("scale", 0) != float32(1/float64(r.ScaleD)) || q.AttrFloat("offset", 0) != float32(r.OffsetD) ||
		q.AttrString("round_mode", "") != "Round" || q.AttrString("dst_type", "") != "INT8" {
		t.Errorf("AscendQuant %+v", q.Attrs)
	}
	dq := dep.Graph.Consumers(n.Outputs[0])[0]
	p := dep.Graph.Initializers[dq.Inputs[1]].Data.([]uint64)
	if dq.OpType != "AscendDequant" || len(p) != 1 || p[0] != uint64(math.Float32bits(deq)) {
		t.Errorf("AscendDequant %v param %x, want %x", dq.OpType, p, math.Float32bits(deq))
	}
	if _, ok := dep.Graph.Initializers["fc1.weight"]; ok {
		t.Error("deploy model keeps the float weight")
	}

	// The fake-quant model in ONNX Runtime computes the int8 arithmetic:
	// compare /fc1/Gemm with an integer evaluation here.
	fake.Graph.AddOutput("/fc1/Gemm_output_0")
	fo := runORT(t, fake, in)
	got := fo["/fc1/Gemm_output_0"].Floats()
	x := in["input"].Floats()
	inv := float32(1 / float64(r.ScaleD))
	K, N := w.Shape[1], w.Shape[0]
	worst := 0.0
	for row := range len(x) / K {
		for j := range N {
			acc := int64(wantB[j])
			for k := range K {
				qv := max(-128, min(127, math.RoundToEven(float64(x[row*K+k]*inv+float32(r.OffsetD)))))
				acc += (int64(qv) - int64(r.OffsetD)) * int64(wantW[j*K+k])
			}
			want := float32(acc) * deq
			worst = max(worst, math.Abs(float64(got[row*N+j]-want))/(math.Abs(float64(want))+1e-6))
		}
	}
	if worst > 1e-5 {
		t.Errorf("fake-quant /fc1/Gemm vs integer reference: worst relative error %g", worst)
	}
	t.Logf("fake-quant /fc1/Gemm vs integer reference: worst relative error %g", worst)

	// And stays close to the float model.
	ref := fx.Output(t).Floats()
	y := fo[fake.Graph.Outputs[0].Name].Floats()
	d := 0.0
	for i := range ref {
		d = max(d, math.Abs(float64(y[i]-ref[i])))
	}
	t.Logf("fake-quant vs float output: max abs diff %g (softmax)", d)
	if d > 0.05 {
		t.Errorf("fake-quant output differs from float by %g", d)
	}
	compareDeploy(t, fake, dep, in, rep.Quantized)
}

func TestSaveCNNStaysCloseToFloat(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	for _, fix := range []string{"cnn", "resnet"} {
		fx := testfixture.Named(t, fix+"/model_op13")
		m := fx.Load(t)
		in := map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: fx.Input(t)}
		layers, _, err := FindLayers(m, FindOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rec := minMaxRecord(t, m, layers, in)
		rep, err := Save(m, layers, nil, rec, filepath.Join(t.TempDir(), fix), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fake, _ := onnx.LoadFile(rep.FakeQuantPath)
		dep, _ := onnx.LoadFile(rep.DeployPath)
		for _, l := range layers {
			if l.Type != "Conv" {
				continue
			}
			dq := dep.Graph.Consumers(dep.Graph.Node(l.Name).Outputs[0])[0]
			if got, want := dep.Graph.Initializers[dq.Inputs[1]].Len(), len(rec[l.Name].ScaleW); got != want {
				t.Errorf("%s: %s dequant param has %d values, want %d", fix, l.Name, got, want)
			}
		}
		y := runORT(t, fake, in)[fake.Graph.Outputs[0].Name].Floats()
		ref := fx.Output(t).Floats()
		var num, den float64
		for i := range ref {
			num += math.Pow(float64(y[i]-ref[i]), 2)
			den += math.Pow(float64(ref[i]), 2)
		}
		rel := math.Sqrt(num / den)
		t.Logf("%s: fake-quant vs float relative L2 error %.4f", fix, rel)
		if rel > 0.1 {
			t.Errorf("%s: fake-quant relative L2 error %g", fix, rel)
		}
		compareDeploy(t, fake, dep, in, rep.Quantized)
	}
}

// compareDeploy runs the deploy model in sim and checks it against the
// fake-quant model in ONNX Runtime: identical int8 codes at each
// quantization for >= 99.9% of elements, outputs within 1e-4 relative.
func compareDeploy(t *testing.T, fake, dep *onnx.Model, in map[string]*onnx.Tensor, layers []string) {
	t.Helper()
	s, err := sim.NewSession(dep, &sim.Options{Threads: 2})
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Logf("SKIPPED deploy comparison: sim cannot run the deploy model yet: %v", err)
			return
		}
		t.Fatalf("sim: %v", err)
	}
	var fetchDep, fetchFake []string
	for _, l := range layers {
		if dep.Graph.Node(l+".quant") != nil {
			fetchDep = append(fetchDep, l+".quant.out")
			fetchFake = append(fetchFake, l+".quant.Clip.out")
		}
	}
	do, err := s.Run(in, fetchDep...)
	if err != nil {
		t.Fatalf("sim deploy run: %v", err)
	}
	fc := fake.Clone()
	for _, f := range fetchFake {
		fc.Graph.AddOutput(f)
	}
	fo := runORT(t, fc, in)
	for i := range fetchDep {
		qd, err := onnx.Data[int8](do[fetchDep[i]])
		if err != nil {
			t.Fatalf("%s: %v", fetchDep[i], err)
		}
		qf := fo[fetchFake[i]].Floats()
		same := 0
		for k := range qd {
			if float32(qd[k]) == qf[k] {
				same++
			}
		}
		frac := float64(same) / float64(len(qd))
		if frac < 0.999 {
			t.Errorf("%s: %.4f%% identical int8 codes", fetchDep[i], 100*frac)
		}
		t.Logf("%s: %.4f%% of %d int8 codes identical (sim deploy vs ORT fake-quant)", fetchDep[i], 100*frac, len(qd))
	}
	for _, o := range dep.Graph.Outputs {
		a, b := do[o.Name].Floats(), fo[o.Name].Floats()
		worst := 0.0
		for k := range a {
			worst = max(worst, math.Abs(float64(a[k]-b[k]))/math.Max(1e-6, math.Abs(float64(b[k]))))
			if math.Abs(float64(a[k]-b[k])) > 1e-4*math.Max(1, math.Abs(float64(b[k]))) {
				t.Fatalf("output %s[%d]: deploy %g, fake-quant %g", o.Name, k, a[k], b[k])
			}
		}
		t.Logf("output %s: worst relative difference deploy (sim) vs fake-quant (ORT) %.3g", o.Name, worst)
	}
}

func TestSaveWarnsAndRefusesBadRecords(t *testing.T) {
	t.Parallel()
	mk := func() *onnx.Model {
		m := testGraph(map[string][]int{"x": {1, 2, 4, 4}}, map[string][]int{"w": {3, 2, 3, 3}, "b": {3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w", "b"}, []string{"y"}))
		w := m.Graph.Initializers["w"].Floats()
		for i := 18; i < 36; i++ {
			w[i] = 0 // output channel 1 all zero
		}
		m.Graph.Initializers["b"].Floats()[2] = 1000
		return m
	}
	m := mk()
	layers, _, err := FindLayers(m, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{"L": {ScaleD: 0.01, OffsetD: 0, ScaleW: []float32{0.01, 1, 0.01}, HasQuant: true}}
	dir := t.TempDir()
	rep, err := Save(m, layers, nil, rec, filepath.Join(dir, "ok"), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(strings.Join(rep.Warnings, "\n"), `layer "L" (Conv): output channel 1 has all-zero weights`) {
		t.Errorf("warnings %q", rep.Warnings)
	}
	// Bias overflow names layer and channel.
	rec["L"].ScaleW[2] = 1e-6
	_, err = Save(m, layers, nil, rec, filepath.Join(dir, "bad"), SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), `layer "L" (Conv): output channel 2: bias 1000`) || !strings.Contains(err.Error(), "int32") {
		t.Errorf("overflow: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "bad*")); len(files) != 0 {
		t.Errorf("failed save left %v", files)
	}
	rec["L"].ScaleW = []float32{0.1, 0.1}
	if _, err = Save(m, layers, nil, rec, filepath.Join(dir, "bad"), SaveOptions{}); err == nil || !strings.Contains(err.Error(), "2 scale_w for 3 output channels") {
		t.Errorf("scale count: %v", err)
	}
	if _, err = Save(m, layers, nil, Record{}, filepath.Join(dir, "bad"), SaveOptions{}); err == nil || !strings.Contains(err.Error(), `layer "L"`) {
		t.Errorf("missing record: %v", err)
	}
	// Balance factors are applied: the layer then reads x times 1/s.
	rec["L"] = &LayerRecord{ScaleD: 0.01, ScaleW: []float32{0.1}, BalanceFactor: []float32{2, 1}, HasQuant: true}
	rep, err = Save(m, layers, nil, rec, filepath.Join(dir, "bal"), SaveOptions{})
	if err != nil {
		t.Fatalf("balanced save: %v", err)
	}
	dep, err := onnx.LoadFile(rep.DeployPath)
	if err != nil {
		t.Fatal(err)
	}
	if q := dep.Graph.Node("L.quant"); q == nil || dep.Graph.Producer(q.Inputs[0]) == nil {
		t.Errorf("balanced deploy model: AscendQuant does not read the balancing node")
	}
	if m.Graph.Node("L").Inputs[0] != "x" || m.Graph.Initializers["w"].Floats()[0] != mk().Graph.Initializers["w"].Floats()[0] {
		t.Error("Save changed its input model")
	}
	cfg := &Config{Layers: map[string]*LayerConfig{"L": {QuantEnable: false}}}
	if _, err = Save(m, layers, cfg, rec, filepath.Join(dir, "bad"), SaveOptions{}); err == nil || !strings.Contains(err.Error(), "no layer to quantize") {
		t.Errorf("all disabled: %v", err)
	}
	if _, err = Save(m, layers, nil, rec, filepath.Join(dir, "missing", "x"), SaveOptions{}); err == nil {
		t.Error("save into a missing folder succeeded")
	}
}

// calibratedModel runs the flow on calibModel into dir and returns a fresh
// copy of the model with its layers, and the config and record of the run,
// ready for a Save of the test's own.
func calibratedModel(t *testing.T, dir string) (*onnx.Model, []*Layer, *Config, Record) {
	t.Helper()
	m, _ := calibModel()
	rep, err := RunFlow(m, testSim, calibData(3, 2), filepath.Join(dir, "ok"), QuantizeOptions{NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	work := m.Clone()
	layers, _, err := FindLayers(work, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return work, layers, rep.Config, rep.Record
}

// TestSaveLeavesNoFileWhenOneCannotBeReplaced checks the promise that the
// output files are all written or none: when one destination cannot be
// replaced (here it is a folder), Save may not leave the other in place.
func TestSaveLeavesNoFileWhenOneCannotBeReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work, layers, cfg, rec := calibratedModel(t, dir)
	// The fake-quant model sorts last of Save's two files.
	p2 := filepath.Join(dir, "s")
	if err := os.MkdirAll(p2+"_fake_quant_model.onnx/x", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Save(work, layers, cfg, rec, p2, SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), "_fake_quant_model.onnx") {
		t.Errorf("Save onto a folder named like the fake-quant model: error %v, want one naming it", err)
	}
	if _, err := os.Stat(p2 + "_deploy_model.onnx"); err == nil {
		t.Errorf("Save failed but left %s", p2+"_deploy_model.onnx")
	}
}

// TestSaveRefusesScaleDWithInfiniteReciprocal checks that Save refuses a
// scale_d whose reciprocal, AscendQuant's scale, overflows float32: the
// saved models would quantize every non-zero input to the int8 limits and
// turn 0 into NaN (0 * Inf).
func TestSaveRefusesScaleDWithInfiniteReciprocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work, layers, cfg, rec := calibratedModel(t, dir)
	rec["c2"].ScaleD = 1e-40 // positive, finite, 1/x = 1e40 > MaxFloat32
	_, err := Save(work, layers, cfg, rec, filepath.Join(dir, "s"), SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), `"c2"`) || !strings.Contains(err.Error(), "scale_d") {
		t.Errorf("Save with scale_d 1e-40: error %v, want one naming layer c2 and scale_d", err)
	}
}

// TestSaveIsSilentOnAMCTsOneStepClip checks that the clip of AMCT's /128
// rule is not warned about: a channel whose negative end is the larger gets
// scale max|w|/128, and its largest positive weight rounds to 128 and clips
// to 127, by design.
func TestSaveIsSilentOnAMCTsOneStepClip(t *testing.T) {
	t.Parallel()
	m := testGraph(map[string][]int{"x": {1, 2, 4, 4}}, map[string][]int{"w": {3, 2, 3, 3}}, []string{"y"},
		node("Conv", "L", []string{"x", "w"}, []string{"y"}))
	w := m.Graph.Initializers["w"].Floats()
	for c := range 3 {
		ch := w[c*18 : (c+1)*18]
		for i := range ch {
			ch[i] = float32(i%5-2) * 0.1
		}
		ch[0], ch[1] = -1, 0.999 // 0.999*128 = 127.9 rounds to 128
	}
	layers, _, err := FindLayers(m, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := ARQ("Conv", layers[0].Node, m.Graph.Initializers["w"], true)
	if err != nil {
		t.Fatal(err)
	}
	if sw[0] != 1.0/128 {
		t.Fatalf("ARQ scale %g, want 1/128 for a channel whose negative end is the larger", sw[0])
	}
	rec := Record{"L": {ScaleD: 0.01, ScaleW: sw, HasQuant: true}}
	rep, err := Save(m, layers, nil, rec, filepath.Join(t.TempDir(), "m"), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings for AMCT's ordinary /128 rounding: %q", rep.Warnings)
	}

	// A record made for other weights (scales halved) is an anomaly: one
	// warning for the layer, saying what to do.
	for i := range sw {
		sw[i] /= 2
	}
	rep, err = Save(m, layers, nil, rec, filepath.Join(t.TempDir(), "m"), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `layer "L" (Conv)`) ||
		!strings.Contains(rep.Warnings[0], "output channels 0, 1 and 2") || !strings.Contains(rep.Warnings[0], "run calibrate again") {
		t.Errorf("warnings %q, want one naming the layer, its channels and what to do", rep.Warnings)
	}
}

func TestChannelListNamesTheFirstFewChannels(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []int
		want string
	}{
		{[]int{3}, "output channel 3"},
		{[]int{1, 4}, "output channels 1 and 4"},
		{[]int{0, 1, 2, 3, 4}, "output channels 0, 1, 2, 3 and 4"},
		{[]int{0, 1, 2, 3, 4, 5, 6}, "output channels 0, 1, 2, 3, 4 and 2 more"},
	} {
		if got := channelList(c.in); got != c.want {
			t.Errorf("channelList(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
