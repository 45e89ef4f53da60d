// Package bench builds full-size ONNX models in memory, shaped like the
// networks amq users quantize (ResNet-18, a BERT-base encoder layer), with
// random weights from a fixed seed. Its benchmarks time sim against ONNX
// Runtime on them; the models are built at benchmark time so that no large
// file is committed.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"amq/onnx"
)

// builder accumulates a graph; names follow torch.onnx's "/layer/Op" style.
type builder struct {
	g   *onnx.Graph
	rng *rand.Rand
}

func newBuilder(name string, seed uint64) *builder {
	return &builder{
		g: &onnx.Graph{
			Name:         name,
			Initializers: map[string]*onnx.Tensor{},
			ValueInfo:    map[string]*onnx.ValueInfo{},
		},
		rng: rand.New(rand.NewPCG(seed, 0x616d71)),
	}
}

// normal returns an initializer with N(0, std²) entries.
func (b *builder) normal(name string, std float64, shape ...int) string {
	data := make([]float32, onnx.NumElems(shape))
	for i := range data {
		data[i] = float32(b.rng.NormFloat64() * std)
	}
	return b.init(name, onnx.NewTensor(shape, data))
}

// init adds a constant initializer and returns its name.
func (b *builder) init(name string, t *onnx.Tensor) string {
	t.Name = name
	b.g.Initializers[name] = t
	return name
}

// node appends a node with one output named after the node.
func (b *builder) node(name, op string, attrs map[string]any, inputs ...string) string {
	n := &onnx.Node{Name: name, OpType: op, Inputs: inputs, Outputs: []string{name + "_output_0"}, Attrs: map[string]*onnx.Attr{}}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n.Outputs[0]
}

func (b *builder) model(opset int64, input string, inShape []int, output string, outShape []int) *onnx.Model {
	b.g.Inputs = []*onnx.ValueInfo{{Name: input, DType: onnx.Float, Shape: onnx.KnownDims(inShape)}}
	b.g.Outputs = []*onnx.ValueInfo{{Name: output, DType: onnx.Float, Shape: onnx.KnownDims(outShape)}}
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": opset}, ProducerName: "amq/bench", Graph: b.g}
}

// conv adds a Conv with He-initialized weights and a bias, i.e. a Conv with
// its BatchNorm folded in, as torch.onnx exports an eval-mode ResNet.
func (b *builder) conv(name, x string, cin, cout, k, stride, pad int) string {
	w := b.normal(name+".weight", math.Sqrt(2/float64(cin*k*k)), cout, cin, k, k)
	bias := b.normal(name+".bias", 0.01, cout)
	return b.node(name+"/Conv", "Conv", map[string]any{
		"kernel_shape": []int64{int64(k), int64(k)},
		"strides":      []int64{int64(stride), int64(stride)},
		"pads":         []int64{int64(pad), int64(pad), int64(pad), int64(pad)},
		"dilations":    []int64{1, 1},
		"group":        int64(1),
	}, x, w, bias)
}

func (b *builder) relu(name, x string) string { return b.node(name+"/Relu", "Relu", nil, x) }

// basicBlock is torchvision's ResNet BasicBlock with BatchNorm folded.
func (b *builder) basicBlock(name, x string, cin, cout, stride int) string {
	y := b.relu(name, b.conv(name+"/conv1", x, cin, cout, 3, stride, 1))
	y = b.conv(name+"/conv2", y, cout, cout, 3, 1, 1)
	short := x
	if stride != 1 || cin != cout {
		short = b.conv(name+"/downsample", x, cin, cout, 1, stride, 0)
	}
	return b.relu(name+"/out", b.node(name+"/Add", "Add", nil, y, short))
}

// ResNet18 returns torchvision's ResNet-18 topology (BatchNorm folded into
// the convolutions) for a [batch, 3, 224, 224] input and 1000 classes, with
// random weights drawn from seed. Input "input", output "output".
func ResNet18(batch int, seed uint64) *onnx.Model {
	b := newBuilder("resnet18", seed)
	x := b.conv("/conv1", "input", 3, 64, 7, 2, 3)
	x = b.relu("/relu", x)
	x = b.node("/maxpool/MaxPool", "MaxPool", map[string]any{
		"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1},
	}, x)
	cin := 64
	for i, cout := range []int{64, 128, 256, 512} {
		stride := 2
		if i == 0 {
			stride = 1
		}
		x = b.basicBlock(fmt.Sprintf("/layer%d/layer%d.0", i+1, i+1), x, cin, cout, stride)
		x = b.basicBlock(fmt.Sprintf("/layer%d/layer%d.1", i+1, i+1), x, cout, cout, 1)
		cin = cout
	}
	x = b.node("/avgpool/GlobalAveragePool", "GlobalAveragePool", nil, x)
	x = b.node("/Flatten", "Flatten", map[string]any{"axis": int64(1)}, x)
	w := b.normal("fc.weight", 1/math.Sqrt(512), 1000, 512)
	bias := b.normal("fc.bias", 0.01, 1000)
	x = b.node("/fc/Gemm", "Gemm", map[string]any{"alpha": float32(1), "beta": float32(1), "transB": int64(1)}, x, w, bias)
	b.g.Nodes[len(b.g.Nodes)-1].Outputs[0] = "output"
	return b.model(13, "input", []int{batch, 3, 224, 224}, "output", []int{batch, 1000})
}

// BERT-base dimensions.
const (
	bertHidden = 768
	bertHeads  = 12
	bertFFN    = 3072
)

// linear adds x·W + b with W [in, out], as torch.onnx exports nn.Linear on
// a 3-D input (MatMul then Add).
func (b *builder) linear(name, x string, in, out int) string {
	w := b.normal(name+".weight", 0.02, in, out)
	bias := b.normal(name+".bias", 0.02, out)
	return b.node(name+"/Add", "Add", nil, b.node(name+"/MatMul", "MatMul", nil, x, w), bias)
}

func (b *builder) layerNorm(name, x string, n int) string {
	gamma := make([]float32, n)
	beta := make([]float32, n)
	for i := range gamma {
		gamma[i] = float32(1 + 0.1*b.rng.NormFloat64())
		beta[i] = float32(0.1 * b.rng.NormFloat64())
	}
	return b.node(name+"/LayerNormalization", "LayerNormalization", map[string]any{
		"axis": int64(-1), "epsilon": float32(1e-12),
	}, x, b.init(name+".weight", onnx.NewTensor([]int{n}, gamma)), b.init(name+".bias", onnx.NewTensor([]int{n}, beta)))
}

func (b *builder) ints(name string, v ...int64) string {
	return b.init(name, onnx.NewTensor([]int{len(v)}, v))
}

func (b *builder) scalar(name string, v float32) string {
	return b.init(name, onnx.NewTensor(nil, []float32{v}))
}

// BERTLayer returns one BERT-base encoder layer (post-norm; hidden 768, 12
// heads, FFN 3072, exact Erf GELU, LayerNormalization) for a [batch, seq,
// 768] input, with random weights drawn from seed. Input "input", output
// "output". Opset 17, the first with LayerNormalization.
func BERTLayer(batch, seq int, seed uint64) *onnx.Model {
	b := newBuilder("bert_layer", seed)
	B, S, D, H := int64(batch), int64(seq), int64(bertHidden), int64(bertHeads)
	heads := b.ints("heads_shape", B, S, H, D/H)
	hidden := b.ints("hidden_shape", B, S, D)
	split := func(name string, perm []int64) string {
		t := b.linear("/attention/"+name, "input", bertHidden, bertHidden)
		t = b.node("/attention/"+name+"/Reshape", "Reshape", nil, t, heads)
		return b.node("/attention/"+name+"/Transpose", "Transpose", map[string]any{"perm": perm}, t)
	}
	q := split("query", []int64{0, 2, 1, 3}) // [B, H, S, d]
	k := split("key", []int64{0, 2, 3, 1})   // [B, H, d, S]
	v := split("value", []int64{0, 2, 1, 3}) // [B, H, S, d]
	scores := b.node("/attention/scores/MatMul", "MatMul", nil, q, k)
	scores = b.node("/attention/Div", "Div", nil, scores, b.scalar("sqrt_head_dim", float32(math.Sqrt(float64(D/H)))))
	probs := b.node("/attention/Softmax", "Softmax", map[string]any{"axis": int64(-1)}, scores)
	ctx := b.node("/attention/context/MatMul", "MatMul", nil, probs, v)
	ctx = b.node("/attention/context/Transpose", "Transpose", map[string]any{"perm": []int64{0, 2, 1, 3}}, ctx)
	ctx = b.node("/attention/context/Reshape", "Reshape", nil, ctx, hidden)
	att := b.linear("/attention/output/dense", ctx, bertHidden, bertHidden)
	h1 := b.layerNorm("/attention/output/LayerNorm", b.node("/attention/output/Add", "Add", nil, att, "input"), bertHidden)

	// GELU(x) = 0.5·x·(1 + erf(x/√2)), as torch.onnx decomposes nn.GELU.
	f := b.linear("/intermediate/dense", h1, bertHidden, bertFFN)
	e := b.node("/intermediate/gelu/Div", "Div", nil, f, b.scalar("sqrt2", float32(math.Sqrt2)))
	e = b.node("/intermediate/gelu/Erf", "Erf", nil, e)
	e = b.node("/intermediate/gelu/Add", "Add", nil, e, b.scalar("one", 1))
	e = b.node("/intermediate/gelu/Mul", "Mul", nil, f, e)
	e = b.node("/intermediate/gelu/Mul_1", "Mul", nil, e, b.scalar("half", 0.5))
	o := b.linear("/output/dense", e, bertFFN, bertHidden)
	b.layerNorm("/output/LayerNorm", b.node("/output/Add", "Add", nil, o, h1), bertHidden)
	b.g.Nodes[len(b.g.Nodes)-1].Outputs[0] = "output"
	return b.model(17, "input", []int{batch, seq, bertHidden}, "output", []int{batch, seq, bertHidden})
}

// RandomInput returns a [shape] tensor of N(0, 1) values drawn from seed.
func RandomInput(seed uint64, shape ...int) *onnx.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x696e))
	data := make([]float32, onnx.NumElems(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return onnx.NewTensor(shape, data)
}
