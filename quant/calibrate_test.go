package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amq/backend"
	"amq/onnx"
	"amq/sim"
)

// scaleInputChannels returns w with input channel j multiplied by s[j],
// written out index by index for Conv (group g) and Gemm transB.
func scaleInputChannels(op string, w *onnx.Tensor, g int, s []float32) []float64 {
	d := w.Floats()
	out := make([]float64, len(d))
	switch op {
	case "Conv":
		o, ipg, k := w.Shape[0], w.Shape[1], onnx.NumElems(w.Shape[2:])
		for oc := range o {
			for jl := range ipg {
				j := (oc/(o/g))*ipg + jl
				for q := range k {
					i := (oc*ipg+jl)*k + q
					out[i] = float64(d[i]) * float64(s[j])
				}
			}
		}
	case "Gemm": // transB: [N, K], input channel = column
		for i := range d {
			out[i] = float64(d[i]) * float64(s[i%w.Shape[1]])
		}
	}
	return out
}

func onesLike(f []float32) []float32 {
	o := make([]float32, len(f))
	for i := range o {
		o[i] = 1
	}
	return o
}

func TestCalibrateMatchesIndependentReferences(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(1, 6)
	cfg := calibConfig(layers, 5)
	rec, err := Preprocess(m, layers, cfg, testSim, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec["c2"].BalanceFactor) != 8 || len(rec["fc"].BalanceFactor) != 96 || rec["c1"] != nil {
		t.Fatalf("balance factors: %v", rec)
	}
	balance := map[string][]float32{"c2": rec["c2"].BalanceFactor, "fc": rec["fc"].BalanceFactor}
	if err := Calibrate(m, layers, cfg, rec, testSim, data); err != nil {
		t.Fatal(err)
	}
	// Reference weight scales, from the balanced weights, computed here.
	wantW := map[string][]float32{}
	ref := m.Clone()
	for _, l := range layers {
		w := m.Graph.Initializers[l.Weight]
		g := int(m.Graph.Node(l.Name).AttrInt("group", 1))
		f := balance[l.Name]
		if f == nil {
			f = make([]float32, w.Shape[1])
			for j := range f {
				f[j] = 1
			}
		}
		bw := scaleInputChannels(l.Type, w, g, f)
		per, chans := len(bw), 1
		if l.Type == "Conv" {
			chans = w.Shape[0]
			per = len(bw) / chans
		}
		for o := range chans {
			var r refScale
			for _, v := range bw[o*per : (o+1)*per] {
				r.add(float64(float32(v)))
			}
			wantW[l.Name] = append(wantW[l.Name], r.scale())
		}
		// Calibration sees the layer through its fake-quantized balanced
		// weights: in the unbalanced reference model that is
		// fakequant(W*s)/s, channel by channel.
		unit := scaleInputChannels(l.Type, w, g, onesLike(f))
		rw := ref.Graph.Initializers[l.Weight].Floats()
		for i, v := range bw {
			sc := float64(wantW[l.Name][i/per])
			q := max(-128, min(127, math.RoundToEven(float64(float32(v))/sc)))
			rw[i] = float32(q * sc * unit[i] / v)
		}
	}
	// Reference activations: run that model, fetch each layer's input and
	// divide channel j by s_j here, for the first BatchNum batches only.
	s, err := sim.NewSession(ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string][]float32{}
	for i := range cfg.BatchNum {
		out, err := s.Run(data[i], "x", "r_out", "f_out")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			v := out[l.Input].Floats()
			f := balance[l.Name]
			for k, x := range v {
				if f != nil {
					var j int
					if l.Type == "Conv" {
						j = (k / 36) % 8
					} else {
						j = k % 96
					}
					x = float32(float64(x) * float64(float32(1/float64(f[j]))))
				}
				raw[l.Name] = append(raw[l.Name], x)
			}
		}
	}
	for _, l := range layers {
		r := rec[l.Name]
		if !r.HasQuant || r.ActType != "INT8" || r.WtsType != "INT8" {
			t.Errorf("%s: HasQuant %v act_type %q wts_type %q", l.Name, r.HasQuant, r.ActType, r.WtsType)
		}
		x := raw[l.Name]
		act := cfg.Layers[l.Name].Act
		got := rawMSE(x, r.ScaleD, r.OffsetD)
		switch act.Algo {
		case "ifmr":
			es, eo, eloss := ifmrExact(x, act)
			t.Logf("%s ifmr: scale_d %v offset_d %d mse %.5g; exact %v %d %.5g", l.Name, r.ScaleD, r.OffsetD, got, es, eo, eloss)
			if got > 1.002*eloss || math.Abs(float64(r.ScaleD/es)-1) > 0.011 {
				t.Errorf("%s: ifmr scale %v (mse %v), exact %v (mse %v)", l.Name, r.ScaleD, got, es, eloss)
			}
		case "hfmg":
			ref := gridBest(x, true)
			t.Logf("%s hfmg: scale_d %v offset_d %d mse %.5g; grid best %.5g", l.Name, r.ScaleD, r.OffsetD, got, ref)
			if got > 1.05*ref {
				t.Errorf("%s: hfmg mse %v, grid best %v", l.Name, got, ref)
			}
		}
		if !act.Asymmetric && r.OffsetD != 0 {
			t.Errorf("%s: symmetric but offset_d %d", l.Name, r.OffsetD)
		}
		if l.Name == "c2" && r.OffsetD != -128 {
			t.Errorf("c2 reads a ReLU output: offset_d %d, want -128", r.OffsetD)
		}
		want := wantW[l.Name]
		if len(r.ScaleW) != len(want) || len(r.OffsetW) != len(want) || len(r.ShiftBit) != len(want) {
			t.Fatalf("%s: %d scale_w, %d offset_w, %d shift_bit; want %d", l.Name, len(r.ScaleW), len(r.OffsetW), len(r.ShiftBit), len(want))
		}
		for c := range want {
			if math.Abs(float64(r.ScaleW[c]/want[c])-1) > 1e-6 || r.OffsetW[c] != 0 || r.ShiftBit[c] != 0 {
				t.Errorf("%s channel %d: scale_w %v offset_w %d shift %d; want %v 0 0", l.Name, c, r.ScaleW[c], r.OffsetW[c], r.ShiftBit[c], want[c])
			}
		}
		if f := balance[l.Name]; f != nil && !equalF(r.BalanceFactor, f) {
			t.Errorf("%s: balance factors changed", l.Name)
		}
	}
}

func TestCalibrateConcurrentEqualsSequential(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(2, 7)
	cfg := calibConfig(layers, 7)
	base, err := Preprocess(m, layers, cfg, testSim, data)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for _, b := range []backend.Backend{testSim, concurrentSim{testSim, 3}, concurrentSim{testSim, 16}} {
		rec := Record{}
		for k, v := range base {
			c := *v
			rec[k] = &c
		}
		if err := Calibrate(m, layers, cfg, rec, b, data); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	for i := 1; i < len(recs); i++ {
		if !reflect.DeepEqual(recs[0], recs[i]) {
			t.Errorf("backend %d: record differs from the sequential one", i)
		}
	}
}

// failingData fails on one batch.
type failingData struct {
	sliceData
	bad int
}

func (d failingData) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i == d.bad {
		return nil, fmt.Errorf("broken batch")
	}
	return d.sliceData[i], nil
}

func TestCalibrateErrorsNameTheCause(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(3, 3)
	cfg := calibConfig(layers, 5)
	if err := Calibrate(m, layers, cfg, Record{}, testSim, data); err == nil || !strings.Contains(err.Error(), "batch_num") {
		t.Errorf("too few batches: %v", err)
	}
	cfg.BatchNum = 3
	// c2 and fc ask for DMQ: calibrating without their balance factors
	// would quantize the unbalanced model.
	if err := Calibrate(m, layers, cfg, Record{}, testSim, data); err == nil || !strings.Contains(err.Error(), `"c2"`) || !strings.Contains(err.Error(), "run preprocess first") {
		t.Errorf("DMQ layer without balance factors: %v", err)
	}
	rec, err := Preprocess(m, layers, cfg, testSim, data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers["c1"].Act.Algo = "kl"
	if err := Calibrate(m, layers, cfg, rec, testSim, data); err == nil || !strings.Contains(err.Error(), `"c1"`) {
		t.Errorf("unknown algorithm: %v", err)
	}
	cfg.Layers["c1"].Act.Algo = "ifmr"
	for _, b := range []backend.Backend{testSim, concurrentSim{testSim, 2}} {
		err := Calibrate(m, layers, cfg, rec, b, failingData{data, 1})
		if err == nil || !strings.Contains(err.Error(), "batch 1") {
			t.Errorf("failing batch: %v", err)
		}
	}
}

// genData makes batch i on demand and records the live heap whenever a
// batch is requested, after a collection.
type genData struct {
	n, batch int
	peak     *uint64
}

func (d genData) Len() int { return d.n }
func (d genData) Batch(i int) (map[string]*onnx.Tensor, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	*d.peak = max(*d.peak, ms.HeapAlloc)
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	return map[string]*onnx.Tensor{"x": randInput(rng, 1, d.batch, 16, 32, 32)}, nil
}

// TestCalibrateRejectsBadAlgorithms checks the messages, which the CLI
// prints, for algorithms and parameters Calibrate does not accept; every one
// is reported before any batch runs.
func TestCalibrateRejectsBadAlgorithms(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(3, 1)
	for _, tc := range []struct {
		edit func(lc *LayerConfig)
		want string
	}{
		{func(lc *LayerConfig) { lc.Act.Algo = "kl" }, `layer "c1": unknown activation algorithm "kl" (want ifmr or hfmg)`},
		{func(lc *LayerConfig) { lc.Act.Algo = "" }, `layer "c1": unknown activation algorithm "" (want ifmr or hfmg)`},
		{func(lc *LayerConfig) { lc.Weight.Algo = "nuq" }, `layer "c1": unknown weight algorithm "nuq" (want arq_quantize)`},
		{func(lc *LayerConfig) { lc.Act.MaxPercentile = 0.4 }, `layer "c1": ifmr: max_percentile 0.4 is outside (0.5, 1]`},
		{func(lc *LayerConfig) { lc.Act.SearchStep = 0 }, `layer "c1": ifmr: search_step 0 must be positive`},
		{func(lc *LayerConfig) { lc.Act = hfmgParams(1000, true) }, `layer "c1": hfmg: num_of_bins 1000 is not one of [1024 2048 4096 8192]`},
		{func(lc *LayerConfig) { lc.Act.NumBits = 4 }, `layer "c1": only 8-bit quantization is supported (activation 4, weight 8 bits)`},
	} {
		cfg := calibConfigNoDMQ(layers, 1)
		tc.edit(cfg.Layers["c1"])
		err := Calibrate(m, layers, cfg, Record{}, testSim, data)
		if err == nil || err.Error() != tc.want {
			t.Errorf("got error %v, want %s", err, tc.want)
		}
	}
	// An empty wts_algo means ARQ.
	cfg := calibConfigNoDMQ(layers, 1)
	cfg.Layers["c1"].Weight.Algo = ""
	if err := Calibrate(m, layers, cfg, Record{}, testSim, data); err != nil {
		t.Errorf("empty wts_algo: %v", err)
	}
}

// orderedData is a DataSource that records the order of Batch calls and
// fails the test when two calls overlap, as a source reading a file
// sequentially would need.
type orderedData struct {
	sliceData
	t      *testing.T
	active atomic.Int32
	mu     sync.Mutex
	order  []int
}

func (d *orderedData) Batch(i int) (map[string]*onnx.Tensor, error) {
	if d.active.Add(1) > 1 {
		d.t.Errorf("Batch(%d) called while another Batch call is running", i)
	}
	time.Sleep(2 * time.Millisecond) // widen the window for overlaps
	d.mu.Lock()
	d.order = append(d.order, i)
	d.mu.Unlock()
	d.active.Add(-1)
	return d.sliceData.Batch(i)
}

// TestConcurrentBackendGetsBatchesOneAtATimeInOrder checks that with a
// Concurrent backend the data source is still asked for batches one at a
// time and in order (the progress callback and DataSource implementations
// rely on it); only the forward passes run in parallel.
func TestConcurrentBackendGetsBatchesOneAtATimeInOrder(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	cfg := calibConfig(layers, 6)
	d := &orderedData{sliceData: calibData(9, 6), t: t}
	rec, err := PreprocessWith(m, layers, cfg, concurrentSim{testSim, 3}, d, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Calibrate(m, layers, cfg, rec, concurrentSim{testSim, 3}, d); err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}
	if !slices.Equal(d.order, want) {
		t.Errorf("batches requested in order %v, want %v", d.order, want)
	}
}

// runOnly hides the optional interfaces of its backend's runners
// (backend.Observer), so that the flow takes each batch's tensors from
// Run's result.
type runOnly struct{ backend.Backend }

func (b runOnly) Prepare(m *onnx.Model, observe []string) (backend.Runner, error) {
	r, err := b.Backend.Prepare(m, observe)
	if err != nil {
		return nil, err
	}
	return struct{ backend.Runner }{r}, nil
}

// TestStreamedObservationEqualsReturnedTensors: balance factors, quant
// factors and bias corrections are the same whether sim hands the
// observed tensors over as it computes them (backend.Observer) or returns
// them with the batch.
func TestStreamedObservationEqualsReturnedTensors(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(2, 5)
	cfg := calibConfig(layers, 5)
	if _, ok := any(mustPrepare(t, testSim, m)).(backend.Observer); !ok {
		t.Fatal("sim's runner does not stream its observed tensors")
	}
	if _, ok := any(mustPrepare(t, runOnly{testSim}, m)).(backend.Observer); ok {
		t.Fatal("runOnly does not hide the Observer")
	}
	type result struct {
		rec  Record
		bias map[string]*BiasCorrection
	}
	var res []result
	for _, b := range []backend.Backend{testSim, runOnly{testSim}} {
		rec, err := Preprocess(m, layers, cfg, b, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := Calibrate(m, layers, cfg, rec, b, data); err != nil {
			t.Fatal(err)
		}
		p := &Prepared{Model: m, Layers: layers, Config: cfg}
		bias, _, err := correctBiases(p, rec, b, data, false)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, result{rec, bias})
	}
	if !reflect.DeepEqual(res[0].rec, res[1].rec) {
		t.Error("records differ between streamed and returned tensors")
	}
	if len(res[0].bias) == 0 {
		t.Fatal("no bias correction")
	}
	for name, bc := range res[0].bias {
		// Printed, since an unchecked correction holds NaN errors.
		if got, want := fmt.Sprintf("%+v", res[1].bias[name]), fmt.Sprintf("%+v", bc); got != want {
			t.Errorf("layer %q: bias correction from returned tensors\n%s\nstreamed\n%s", name, got, want)
		}
	}
}

func mustPrepare(t *testing.T, b backend.Backend, m *onnx.Model) backend.Runner {
	t.Helper()
	r, err := b.Prepare(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
