package quant

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
)

// biasedGemmModel: Gemm(bias) -> Relu -> Gemm without bias whose weight
// has one large entry. The second Gemm's weight is quantized per tensor
// with the step that entry sets, and its input is all positive, so the
// rounding errors of each output column add up to a bias, err_W · E[x].
func biasedGemmModel() *onnx.Model {
	b := newBuilder(31)
	x := b.input("x", 32, 24)
	h := b.node("Gemm", "g1", nil, x, b.init("w1", 0.4, 0, 24, 32), b.init("b1", 0.2, 0.5, 32))
	r := b.node("Relu", "r", nil, h)
	w2 := b.init("w2", 0.3, 0, 32, 10)
	b.g.Initializers[w2].Floats()[7] = 4
	y := b.node("Gemm", "g2", nil, r, w2)
	return b.model(y)
}

// gaussBatches is n batches of rows of x ~ N(0, 1) for a model with input
// "x" of rows×cols.
func gaussBatches(seed uint64, n, rows, cols int) sliceData {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var d sliceData
	for range n {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		d = append(d, map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{rows, cols}, v)})
	}
	return d
}

// TestBiasCorrectionLowersHeldOutError: on biasedGemmModel, bias
// correction is kept for the biased layer and lowers the error of the
// fake-quant model's output against the float model's, both run in ONNX
// Runtime, on data calibration never saw.
func TestBiasCorrectionLowersHeldOutError(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	m := biasedGemmModel()
	calib := gaussBatches(1, 4, 32, 24)
	mse := map[bool]float64{}
	for _, bc := range []bool{false, true} {
		rep, err := RunFlow(m, testSim, calib, filepath.Join(t.TempDir(), "m"), QuantizeOptions{BatchNum: 4, BiasCorrect: bc})
		if err != nil {
			t.Fatal(err)
		}
		fake, err := onnx.LoadFile(rep.FakeQuantPath)
		if err != nil {
			t.Fatal(err)
		}
		var num float64
		var n int
		for _, in := range gaussBatches(2, 16, 32, 24) {
			want := runORT(t, m, in)["g2_out"].Floats()
			got := runORT(t, fake, in)["g2_out"].Floats()
			for i := range want {
				num += sq(float64(got[i]) - float64(want[i]))
			}
			n += len(want)
		}
		mse[bc] = num / float64(n)
		if !bc {
			continue
		}
		for _, l := range rep.Layers {
			c := l.BiasCorrection
			if c == nil || len(c.Shift) != 32 && l.Name == "g1" || len(c.Shift) != 10 && l.Name == "g2" {
				t.Fatalf("%s: bias correction %+v", l.Name, c)
			}
			t.Logf("%s: kept %v, held-out MSE %.4g -> %.4g, %d samples fit, %d held out", l.Name, c.Kept, c.MSEBefore, c.MSEAfter, c.FitSamples, c.HeldOutSamples)
			if c.Kept != (c.MSEAfter < c.MSEBefore) || c.FitSamples != 64 || c.HeldOutSamples != 64 {
				t.Errorf("%s: kept %v with MSE %v -> %v on %d/%d samples", l.Name, c.Kept, c.MSEBefore, c.MSEAfter, c.FitSamples, c.HeldOutSamples)
			}
			if l.Name == "g2" && !(c.Kept && c.MSEAfter < 0.8*c.MSEBefore) {
				t.Errorf("g2: the correction of the biased layer was not kept or barely helped: %+v", c)
			}
		}
	}
	t.Logf("held-out MSE of the output: %.4g without bias correction, %.4g with", mse[false], mse[true])
	if !(mse[true] < 0.8*mse[false]) {
		t.Errorf("held-out MSE %.4g with bias correction, %.4g without: want at least 20%% lower", mse[true], mse[false])
	}
}

// unbiasedLayersModel: Conv without bias -> Relu -> Flatten -> Gemm
// without bias -> Relu -> MatMul: every kind of layer that gets its bias
// from the correction.
func unbiasedLayersModel() *onnx.Model {
	b := newBuilder(41)
	x := b.input("x", 8, 3, 6, 6)
	wc := b.init("wc", 0.4, 0.05, 4, 3, 3, 3)
	for o := range 4 {
		b.g.Initializers[wc].Floats()[o*27+o] = 3
	}
	c := b.node("Conv", "conv", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, wc)
	r := b.node("Relu", "r1", nil, c)
	f := b.node("Flatten", "flat", nil, r)
	g := b.node("Gemm", "gemm", map[string]any{"beta": float32(0.5)}, f, b.init("wg", 0.1, 0, 144, 16))
	r2 := b.node("Relu", "r2", nil, g)
	w := b.init("wm", 0.3, 0, 16, 6)
	b.g.Initializers[w].Floats()[3] = 3
	y := b.node("MatMul", "mm", nil, r2, w)
	return b.model(y)
}

// TestBiasCorrectedModelsAgree: with bias correction the deploy model in
// sim and the fake-quant model in ONNX Runtime compute the same thing, as
// they do without it (compareFakeDeploy's bounds), on the fixtures and on
// a model whose Conv and Gemm have no bias and whose MatMul has none to
// have: the deploy Conv and Gemm get an int32 bias input (the Gemm's beta
// set to 1), the MatMul an Add after its AscendDequant.
func TestBiasCorrectedModelsAgree(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	t.Run("unbiased layers", func(t *testing.T) {
		m := unbiasedLayersModel()
		rng := rand.New(rand.NewPCG(5, 5))
		positive := func() map[string]*onnx.Tensor { // images: all values positive
			x := randInput(rng, 1, 8, 3, 6, 6)
			for i, v := range x.Floats() {
				x.Floats()[i] = max(v, -v)
			}
			return map[string]*onnx.Tensor{"x": x}
		}
		var calib sliceData
		for range 3 {
			calib = append(calib, positive())
		}
		rep, err := RunFlow(m, testSim, calib, filepath.Join(t.TempDir(), "m"), QuantizeOptions{BatchNum: 3, BiasCorrect: true})
		if err != nil {
			t.Fatal(err)
		}
		fake, dep := loadModels(t, rep)
		for _, l := range rep.Layers {
			c := l.BiasCorrection
			t.Logf("%s: kept %v, held-out MSE %.4g -> %.4g", l.Name, c.Kept, c.MSEBefore, c.MSEAfter)
			if !c.Kept {
				t.Errorf("%s: correction not kept; the test needs all three kinds of layer corrected", l.Name)
			}
		}
		for _, l := range rep.Layers {
			n := dep.Graph.Node(l.Name)
			if !l.BiasCorrection.Kept {
				if n.Input(2) != "" {
					t.Errorf("%s: a bias without a kept correction", l.Name)
				}
				continue
			}
			switch l.Type {
			case "Conv", "Gemm":
				bias, ok := dep.Graph.Constant(n.Input(2))
				if !ok || bias.DType != onnx.Int32 || len(bias.Shape) != 1 {
					t.Errorf("%s: deploy bias input %q: %v", l.Name, n.Input(2), bias)
				}
				if l.Type == "Gemm" && n.AttrFloat("beta", 1) != 1 {
					t.Errorf("gemm: beta %v with the added bias", n.AttrFloat("beta", 1))
				}
			case "MatMul":
				for _, mdl := range []*onnx.Model{fake, dep} {
					if p := mdl.Graph.Producer("mm_out"); p == nil || p.OpType != "Add" {
						t.Errorf("mm_out is produced by %v, want the correction's Add", p)
					}
				}
			}
		}
		compareFakeDeploy(t, fake, dep, positive())
	})
	for _, fixture := range []string{"cnn", "transformer", "deconv", "conv3d"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			r := runFixtureSized(t, fixture, "dmq.cfg", 16, QuantizeOptions{BatchNum: 4, BiasCorrect: true})
			x, _ := testSet(t, fixture)
			compareFakeDeploy(t, r.fake, r.deploy, map[string]*onnx.Tensor{r.model.Graph.Inputs[0].Name: x})
		})
	}
}

// TestBiasCorrectionNotKeptLeavesTheLayerAlone: on the transformer with
// DMQ on 4 batches of 16, the head's correction raises the held-out error,
// so it is dropped and the head's int32 bias is the one the run without
// bias correction writes; each MatMul's output comes from the correction's
// Add exactly when its correction was kept.
func TestBiasCorrectionNotKeptLeavesTheLayerAlone(t *testing.T) {
	t.Parallel()
	plain := runFixtureSized(t, "transformer", "dmq.cfg", 16, QuantizeOptions{BatchNum: 4})
	corr := runFixtureSized(t, "transformer", "dmq.cfg", 16, QuantizeOptions{BatchNum: 4, BiasCorrect: true})
	kept := 0
	for _, l := range corr.rep.Layers {
		c := l.BiasCorrection
		out := corr.model.Graph.Node(l.Name).Outputs[0]
		switch l.Type {
		case "Gemm":
			if c.Kept {
				t.Fatalf("%s: correction kept (MSE %v -> %v); the test needs one that is not", l.Name, c.MSEBefore, c.MSEAfter)
			}
			got, _ := corr.deploy.Graph.Constant(corr.deploy.Graph.Node(l.Name).Input(2))
			want, _ := plain.deploy.Graph.Constant(plain.deploy.Graph.Node(l.Name).Input(2))
			if !slices.Equal(got.Data.([]int32), want.Data.([]int32)) {
				t.Errorf("%s: deploy bias %v, without bias correction %v", l.Name, got.Data, want.Data)
			}
		case "MatMul":
			want := "AscendDequant"
			if c.Kept {
				want = "Add"
				kept++
			}
			if p := corr.deploy.Graph.Producer(out); p == nil || p.OpType != want {
				t.Errorf("%s (kept %v): output %q produced by %v, want %s", l.Name, c.Kept, out, p, want)
			}
			if p := plain.deploy.Graph.Producer(out); p == nil || p.OpType != "AscendDequant" {
				t.Errorf("%s without bias correction: output %q produced by %v", l.Name, out, p)
			}
		}
	}
	if kept == 0 {
		t.Error("no MatMul kept its correction")
	}
}

// TestBiasCorrectionRefusesBadSettingsBeforeAnyForwardPass: a config that
// quantizes no layer, or calibration data of a single sample, fail the run
// with an error that says why, before any model is prepared on the
// backend, and leave no file.
func TestBiasCorrectionRefusesBadSettingsBeforeAnyForwardPass(t *testing.T) {
	t.Parallel()
	m := biasedGemmModel()
	for _, tc := range []struct {
		name string
		data sliceData
		opt  QuantizeOptions
		want string
	}{
		{"no layer", gaussBatches(1, 2, 32, 24), QuantizeOptions{Skip: []string{"g1", "g2"}, BiasCorrect: true}, "no layer to quantize"},
		{"one sample", gaussBatches(1, 1, 1, 24), QuantizeOptions{BiasCorrect: true}, "bias correction needs at least 2 calibration samples"},
	} {
		dir := t.TempDir()
		b := &countingBackend{Backend: testSim}
		_, err := RunFlow(m, b, tc.data, filepath.Join(dir, "m"), tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
		if b.prepared != 0 {
			t.Errorf("%s: %d models prepared on the backend before the error", tc.name, b.prepared)
		}
		if files, _ := os.ReadDir(dir); len(files) != 0 {
			t.Errorf("%s: files left: %v", tc.name, files)
		}
	}
}

// runFixtureWith is runFixture with batches of size samples and the
// options opt (Simple is read from cfg).
func runFixtureSized(t *testing.T, fixture, cfg string, size int, opt QuantizeOptions) *fixtureRun {
	t.Helper()
	dir := filepath.Join(quantFixtures, fixture)
	m, err := onnx.LoadFile(filepath.Join(dir, "model_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if opt.Simple, err = LoadSimpleConfig(filepath.Join(quantFixtures, cfg)); err != nil {
		t.Fatal(err)
	}
	calib, err := npy.ReadFile(filepath.Join(dir, "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: calib}, size)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "model"), opt)
	if err != nil {
		t.Fatalf("%s with %s: %v", fixture, cfg, err)
	}
	r := &fixtureRun{rep: rep, model: m}
	r.fake, r.deploy = loadModels(t, rep)
	return r
}

// loadModels loads the fake-quant and deploy models of a run.
func loadModels(t *testing.T, rep *QuantizeReport) (fake, dep *onnx.Model) {
	t.Helper()
	var err error
	if fake, err = onnx.LoadFile(rep.FakeQuantPath); err != nil {
		t.Fatal(err)
	}
	if dep, err = onnx.LoadFile(rep.DeployPath); err != nil {
		t.Fatal(err)
	}
	return fake, dep
}
