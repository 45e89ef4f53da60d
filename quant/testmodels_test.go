// The models, data sources and backends that the tests of several files
// share.

package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
	"amq/sim"
)

// testSim is the backend the tests calibrate on: sim, on one thread.
var testSim = &sim.Backend{Threads: 1}

// concurrentSim is sim declared able to run n batches at once, as an
// Ascend backend with n devices is, so that the tests exercise the flow's
// in-order merging of concurrent batches.
type concurrentSim struct {
	*sim.Backend
	n int
}

func (c concurrentSim) Concurrency() int { return c.n }

// sliceData is a DataSource over batches held in memory.
type sliceData []map[string]*onnx.Tensor

func (d sliceData) Len() int                                     { return len(d) }
func (d sliceData) Batch(i int) (map[string]*onnx.Tensor, error) { return d[i], nil }

// builder assembles small models in Go.
type builder struct {
	g   *onnx.Graph
	rng *rand.Rand
}

// newBuilder starts an empty graph whose initializers are drawn from a
// generator seeded with seed.
func newBuilder(seed uint64) *builder {
	return &builder{
		g:   &onnx.Graph{Name: "test", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}},
		rng: rand.New(rand.NewPCG(seed, seed)),
	}
}

// input adds a float graph input of the given shape.
func (b *builder) input(name string, shape ...int) string {
	b.g.Inputs = append(b.g.Inputs, &onnx.ValueInfo{Name: name, DType: onnx.Float, Shape: onnx.KnownDims(shape)})
	return name
}

// init adds a random initializer with values scale*N(0,1)+shift.
func (b *builder) init(name string, scale, shift float64, shape ...int) string {
	d := make([]float32, onnx.NumElems(shape))
	for i := range d {
		d[i] = float32(b.rng.NormFloat64()*scale + shift)
	}
	t := onnx.NewTensor(shape, d)
	t.Name = name
	b.g.SetInitializer(t)
	return name
}

// node adds a node with one output, named after the node, and returns it.
func (b *builder) node(op, name string, attrs map[string]any, inputs ...string) string {
	n := &onnx.Node{Name: name, OpType: op, Inputs: inputs, Outputs: []string{name + "_out"}}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n.Outputs[0]
}

// model declares outputs as the graph outputs and returns the model.
func (b *builder) model(outputs ...string) *onnx.Model {
	for _, o := range outputs {
		b.g.Outputs = append(b.g.Outputs, &onnx.ValueInfo{Name: o, DType: onnx.Float})
	}
	b.g.Reindex()
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 17}, Graph: b.g}
}

// randInput returns a tensor whose channel j on axis has its own spread,
// so that balancing has something to do.
func randInput(rng *rand.Rand, axis int, shape ...int) *onnx.Tensor {
	d := make([]float32, onnx.NumElems(shape))
	if axis < 0 {
		axis += len(shape)
	}
	inner := onnx.NumElems(shape[axis+1:])
	ch := shape[axis]
	for i := range d {
		j := (i / inner) % ch
		d[i] = float32(rng.NormFloat64() * math.Pow(4, float64(j%5)-1))
	}
	return onnx.NewTensor(shape, d)
}

// runSim runs m on sim and returns its graph outputs.
func runSim(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor) map[string]*onnx.Tensor {
	t.Helper()
	s, err := sim.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareOutputs checks every graph output of got against want within a
// tolerance relative to the output's largest magnitude.
func compareOutputs(t *testing.T, what string, got, want map[string]*onnx.Tensor, rel float64) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: output %q missing", what, name)
			continue
		}
		wd, gd := w.Floats(), g.Floats()
		var scale, worst float64
		for _, v := range wd {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range wd {
			worst = max(worst, math.Abs(float64(gd[i])-float64(wd[i])))
		}
		if worst > rel*scale {
			t.Errorf("%s: output %q differs by %g (largest |value| %g)", what, name, worst, scale)
		}
	}
}

// layer describes node name of m as FindLayers would, without its checks.
func layer(m *onnx.Model, name string) *Layer {
	n := m.Graph.Node(name)
	l := &Layer{Name: name, Type: n.OpType, Node: n, Input: n.Inputs[0], Weight: n.Inputs[1], Bias: n.Input(2)}
	if n.OpType == "Conv" || n.OpType == "ConvTranspose" {
		w, _ := m.Graph.Constant(n.Inputs[1])
		l.Spatial = len(w.Shape) - 2
	}
	return l
}

// equalF reports whether a and b hold the same values.
func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testConfig enables every layer with IFMR defaults, and DMQ (strength
// 0.5) when dmq is set.
func testConfig(layers []*Layer, dmq bool) *Config {
	cfg := &Config{Version: 1, BatchNum: 1, ActivationOffset: true, Layers: map[string]*LayerConfig{}}
	for _, l := range layers {
		lc := &LayerConfig{QuantEnable: true, Act: defaultIFMR(!(l.Type == "Conv" && l.Spatial == 3)),
			Weight: WeightParams{NumBits: 8, Algo: "arq_quantize", ChannelWise: l.Type == "Conv" || l.Type == "ConvTranspose"}}
		if dmq {
			lc.DMQ = &DMQParams{MigrationStrength: 0.5}
		}
		cfg.Layers[l.Name] = lc
	}
	return cfg
}

// calibModel: Conv(pad 1) -> Relu -> grouped Conv -> Flatten -> Gemm(transB).
func calibModel() (*onnx.Model, []*Layer) {
	b := newBuilder(21)
	x := b.input("x", 2, 4, 6, 6)
	c1 := b.node("Conv", "c1", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w1", 0.5, 0, 8, 4, 3, 3), b.init("b1", 0.3, 0, 8))
	r := b.node("Relu", "r", nil, c1)
	c2 := b.node("Conv", "c2", map[string]any{"group": int64(2)}, r, b.init("w2", 0.5, 0, 6, 4, 3, 3))
	f := b.node("Flatten", "f", nil, c2)
	g := b.node("Gemm", "fc", map[string]any{"transB": int64(1)}, f, b.init("wf", 0.2, 0, 5, 96), b.init("bf", 0.2, 0, 5))
	m := b.model(g)
	return m, []*Layer{layer(m, "c1"), layer(m, "c2"), layer(m, "fc")}
}

// calibData is n batches of calibModel input with per-channel spreads.
func calibData(seed uint64, n int) sliceData {
	rng := rand.New(rand.NewPCG(seed, seed))
	var d sliceData
	for range n {
		d = append(d, map[string]*onnx.Tensor{"x": randInput(rng, 1, 2, 4, 6, 6)})
	}
	return d
}

// calibConfig enables every layer of calibModel for batches batches, with
// DMQ and asymmetric HFMG on c2 and DMQ and symmetric IFMR on fc.
func calibConfig(layers []*Layer, batches int) *Config {
	cfg := testConfig(layers, false)
	cfg.BatchNum = batches
	cfg.Layers["c2"].DMQ = &DMQParams{MigrationStrength: 0.5}
	cfg.Layers["c2"].Act = hfmgParams(2048, true)
	cfg.Layers["fc"].DMQ = &DMQParams{MigrationStrength: 0.3}
	cfg.Layers["fc"].Act = defaultIFMR(false)
	return cfg
}

// calibConfigNoDMQ is calibConfig without balance, for tests that
// calibrate without balance factors.
func calibConfigNoDMQ(layers []*Layer, batches int) *Config {
	cfg := calibConfig(layers, batches)
	for _, lc := range cfg.Layers {
		lc.DMQ = nil
	}
	return cfg
}

// testGraph builds a model from nodes; inputs are graph inputs, inits are
// initializers (name -> shape, filled with a deterministic pattern).
func testGraph(inputs map[string][]int, inits map[string][]int, outputs []string, nodes ...*onnx.Node) *onnx.Model {
	g := &onnx.Graph{Name: "test", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	for name, shape := range inputs {
		g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: name, DType: onnx.Float, Shape: onnx.KnownDims(shape)})
	}
	for name, shape := range inits {
		n := onnx.NumElems(shape)
		d := make([]float32, n)
		for i := range d {
			d[i] = float32((i*7+len(name))%13-6) / 8
		}
		t := onnx.NewTensor(shape, d)
		t.Name = name
		g.SetInitializer(t)
	}
	for _, o := range outputs {
		g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: o, DType: onnx.Float})
	}
	g.Nodes = nodes
	g.Reindex()
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

// node is a node for testGraph; attrs alternate names and values.
func node(op, name string, in, out []string, attrs ...any) *onnx.Node {
	n := &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: out}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.SetAttr(attrs[i].(string), attrs[i+1])
	}
	return n
}
