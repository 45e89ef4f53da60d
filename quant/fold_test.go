package quant

import (
	"math/rand/v2"
	"strings"
	"testing"

	"amq/onnx"
)

// TestFoldIntoEachProducer checks, for each producer the factors can be
// folded into and for each reason they cannot, what ApplyBalance reports:
// the fold's kind and producer, or a Mul with the note that says why.
func TestFoldIntoEachProducer(t *testing.T) {
	t.Parallel()
	// Each case builds a model from x [2, 4, 3, 3] (convolutions) or y
	// [3, 4] (Gemm/MatMul) and names the layers to balance.
	for _, tc := range []struct {
		name   string
		build  func(b *builder, x, y string) []string
		kind   string // of every balanced layer
		node   string // the producer, when folded
		note   string // when not
		output string // an extra graph output
	}{
		{name: "layernorm", kind: BalanceFoldLayerNorm, node: "ln", build: func(b *builder, x, y string) []string {
			ln := b.node("LayerNormalization", "ln", map[string]any{"axis": int64(-1)}, y, b.init("g", 0.3, 1, 4), b.init("bb", 0.2, 0, 4))
			b.node("Gemm", "l", nil, ln, b.init("w", 1, 0, 4, 5))
			b.node("MatMul", "l2", nil, ln, b.init("w2", 1, 0, 4, 5))
			return []string{"l", "l2"}
		}},
		{name: "batchnorm", kind: BalanceFoldBatchNorm, node: "bn", build: func(b *builder, x, y string) []string {
			bn := b.node("BatchNormalization", "bn", nil, x, b.init("s", 0.3, 1, 4), b.init("bb", 0.5, 0, 4), b.init("m", 0.5, 0, 4), b.init("v", 0, 1.3, 4))
			b.node("Conv", "l", nil, bn, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "mul-add", kind: BalanceFoldMulAdd, node: "a", build: func(b *builder, x, y string) []string {
			mul := b.node("Mul", "mu", nil, b.init("gamma", 0, 1.5, 1), y)
			add := b.node("Add", "a", nil, b.init("beta", 0.5, 0, 4), mul)
			b.node("Gemm", "l", nil, add, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "conv", kind: BalanceFoldConv, node: "p", build: func(b *builder, x, y string) []string {
			p := b.node("Conv", "p", nil, x, b.init("pw", 1, 0, 6, 4, 1, 1), b.init("pb", 1, 0, 6))
			b.node("Conv", "l", nil, p, b.init("w", 1, 0, 5, 6, 1, 1))
			return []string{"l"}
		}},
		{name: "gemm", kind: BalanceFoldGemm, node: "p", build: func(b *builder, x, y string) []string {
			p := b.node("Gemm", "p", map[string]any{"transB": int64(1)}, y, b.init("pw", 1, 0, 6, 4))
			b.node("Gemm", "l", nil, p, b.init("w", 1, 0, 6, 5))
			return []string{"l"}
		}},
		{name: "graph input", kind: BalanceMul, note: `tensor "y" is a graph input`, build: func(b *builder, x, y string) []string {
			b.node("Gemm", "l", nil, y, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "graph output", kind: BalanceMul, note: `tensor "r_out" is a graph output`, output: "r_out", build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, y)
			b.node("Gemm", "l", nil, r, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "other reader", kind: BalanceMul, note: `tensor "r_out" has consumers that are not balanced layers`, build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, y)
			b.node("Gemm", "l", nil, r, b.init("w", 1, 0, 4, 5))
			b.node("Relu", "r2", nil, r)
			return []string{"l"}
		}},
		{name: "mixed readers", kind: BalanceMul, note: `tensor "r_out" feeds both convolutions and Gemm/MatMul layers`, build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, x)
			b.node("Conv", "l", nil, r, b.init("w", 1, 0, 5, 4, 1, 1))
			b.node("Gemm", "l2", nil, r, b.init("w2", 1, 0, 4, 5))
			return []string{"l", "l2"}
		}},
		{name: "read twice", kind: BalanceMul, note: `Gemm node "l" reads tensor "r_out" as more than its activation`, build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, y)
			b.node("Gemm", "l", nil, r, b.init("w", 1, 0, 4, 4), r)
			return []string{"l"}
		}},
		{name: "other op", kind: BalanceMul, note: `producer Relu node "r" of "r_out" cannot absorb the factors`, build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, y)
			b.node("Gemm", "l", nil, r, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "other domain", kind: BalanceMul, note: `producer LayerNormalization node "ln" of "ln_out" cannot be folded into`, build: func(b *builder, x, y string) []string {
			ln := b.node("LayerNormalization", "ln", nil, y, b.init("g", 0.3, 1, 4))
			b.g.Nodes[len(b.g.Nodes)-1].Domain = "com.example"
			b.node("Gemm", "l", nil, ln, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "layernorm before conv", kind: BalanceMul, note: `LayerNormalization "ln" normalizes the last axis, the convolutions read channels on axis 1`, build: func(b *builder, x, y string) []string {
			ln := b.node("LayerNormalization", "ln", nil, x, b.init("g", 0.3, 1, 3))
			b.node("Conv", "l", nil, ln, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "layernorm scale not constant", kind: BalanceMul, note: `input 1 ("y") of LayerNormalization node "ln" is not a constant`, build: func(b *builder, x, y string) []string {
			ln := b.node("LayerNormalization", "ln", nil, y, y)
			b.node("Gemm", "l", nil, ln, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "batchnorm before gemm", kind: BalanceMul, note: `BatchNormalization "bn" scales axis 1, the layers read the last axis`, build: func(b *builder, x, y string) []string {
			bn := b.node("BatchNormalization", "bn", nil, y, b.init("s", 0.3, 1, 4), b.init("bb", 0.5, 0, 4), b.init("m", 0.5, 0, 4), b.init("v", 0, 1.3, 4))
			b.node("Gemm", "l", nil, bn, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "batchnorm training", kind: BalanceMul, note: `BatchNormalization "bn" is in training mode`, build: func(b *builder, x, y string) []string {
			bn := b.node("BatchNormalization", "bn", map[string]any{"training_mode": int64(1)}, x, b.init("s", 0.3, 1, 4), b.init("bb", 0.5, 0, 4), b.init("m", 0.5, 0, 4), b.init("v", 0, 1.3, 4))
			b.node("Conv", "l", nil, bn, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "batchnorm bias shape", kind: BalanceMul, note: `input 2 ("bb") of BatchNormalization node "bn": constant of shape [3] does not broadcast against channel shape [4]`, build: func(b *builder, x, y string) []string {
			bn := b.node("BatchNormalization", "bn", nil, x, b.init("s", 0.3, 1, 4), b.init("bb", 0.5, 0, 3), b.init("m", 0.5, 0, 4), b.init("v", 0, 1.3, 4))
			b.node("Conv", "l", nil, bn, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "add without constant", kind: BalanceMul, note: `Add "a" has no constant operand`, build: func(b *builder, x, y string) []string {
			a := b.node("Add", "a", nil, y, y)
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "add after relu", kind: BalanceMul, note: `Add "a" is not fed by a Mul`, build: func(b *builder, x, y string) []string {
			r := b.node("Relu", "r", nil, y)
			a := b.node("Add", "a", nil, r, b.init("beta", 0.5, 0, 4))
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "mul read twice", kind: BalanceMul, note: `Mul "mu"'s output has other uses`, build: func(b *builder, x, y string) []string {
			mul := b.node("Mul", "mu", nil, y, b.init("gamma", 0, 1.5, 1))
			a := b.node("Add", "a", nil, mul, b.init("beta", 0.5, 0, 4))
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			b.node("Relu", "r", nil, mul)
			return []string{"l"}
		}},
		{name: "mul without constant", kind: BalanceMul, note: `Mul "mu" has no constant operand`, build: func(b *builder, x, y string) []string {
			mul := b.node("Mul", "mu", nil, y, y)
			a := b.node("Add", "a", nil, mul, b.init("beta", 0.5, 0, 4))
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "mul-add gamma shape", kind: BalanceMul, note: `Mul "mu" constant: constant of shape [3] does not broadcast against channel shape [4]`, build: func(b *builder, x, y string) []string {
			mul := b.node("Mul", "mu", nil, y, b.init("gamma", 0, 1.5, 3))
			a := b.node("Add", "a", nil, mul, b.init("beta", 0.5, 0, 4))
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "mul-add beta shape", kind: BalanceMul, note: `Add "a" constant: constant of shape [3] does not broadcast against channel shape [4]`, build: func(b *builder, x, y string) []string {
			mul := b.node("Mul", "mu", nil, y, b.init("gamma", 0, 1.5, 4))
			a := b.node("Add", "a", nil, mul, b.init("beta", 0.5, 0, 3))
			b.node("Gemm", "l", nil, a, b.init("w", 1, 0, 4, 5))
			return []string{"l"}
		}},
		{name: "conv before gemm", kind: BalanceMul, note: `Conv "p" writes channels on axis 1, the layers read the last axis`, build: func(b *builder, x, y string) []string {
			p := b.node("Conv", "p", nil, x, b.init("pw", 1, 0, 6, 4, 1, 1))
			b.node("Gemm", "l", nil, p, b.init("w", 1, 0, 6, 5))
			return []string{"l"}
		}},
		{name: "conv weight not constant", kind: BalanceMul, note: `weight of Conv node "p" is not a float constant`, build: func(b *builder, x, y string) []string {
			p := b.node("Conv", "p", nil, x, x)
			b.node("Conv", "l", nil, p, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "conv channel count", kind: BalanceMul, note: `Conv node "p" has 6 output channels, the factors 4`, build: func(b *builder, x, y string) []string {
			p := b.node("Conv", "p", nil, x, b.init("pw", 1, 0, 6, 4, 1, 1))
			b.node("Conv", "l", nil, p, b.init("w", 1, 0, 5, 4, 1, 1))
			return []string{"l"}
		}},
		{name: "conv bias not constant", kind: BalanceMul, note: `bias of Conv node "p" is not a constant`, build: func(b *builder, x, y string) []string {
			p := b.node("Conv", "p", nil, x, b.init("pw", 1, 0, 6, 4, 1, 1), y)
			b.node("Conv", "l", nil, p, b.init("w", 1, 0, 5, 6, 1, 1))
			return []string{"l"}
		}},
		{name: "gemm bias shape", kind: BalanceMul, note: `bias of Gemm node "p": constant of shape [5] does not broadcast against channel shape [6]`, build: func(b *builder, x, y string) []string {
			p := b.node("Gemm", "p", nil, y, b.init("pw", 1, 0, 4, 6), b.init("pb", 1, 0, 5))
			b.node("Gemm", "l", nil, p, b.init("w", 1, 0, 6, 5))
			return []string{"l"}
		}},
		{name: "gemm before conv", kind: BalanceMul, note: `Gemm "p" writes columns, the convolutions read axis 1`, build: func(b *builder, x, y string) []string {
			p := b.node("Gemm", "p", nil, y, b.init("pw", 1, 0, 4, 6))
			b.node("Conv", "l", nil, p, b.init("w", 1, 0, 5, 6, 1, 1))
			return []string{"l"}
		}},
		{name: "gemm unquantizable weight", kind: BalanceMul, note: `Gemm node "p": Gemm weight of shape [4 6 1]: want rank 2`, build: func(b *builder, x, y string) []string {
			p := b.node("Gemm", "p", nil, y, b.init("pw", 1, 0, 4, 6, 1))
			b.node("Gemm", "l", nil, p, b.init("w", 1, 0, 6, 5))
			return []string{"l"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(6)
			x, y := b.input("x", 2, 4, 3, 3), b.input("y", 3, 4)
			names := tc.build(b, x, y)
			m := b.model()
			for _, n := range names {
				m.Graph.Outputs = append(m.Graph.Outputs, &onnx.ValueInfo{Name: m.Graph.Node(n).Outputs[0], DType: onnx.Float})
			}
			if tc.output != "" {
				m.Graph.Outputs = append(m.Graph.Outputs, &onnx.ValueInfo{Name: tc.output, DType: onnx.Float})
			}
			m.Graph.Reindex()
			var layers []*Layer
			for _, n := range names {
				layers = append(layers, layer(m, n))
			}
			rec := balanceRecord(rand.New(rand.NewPCG(1, 2)), m, layers, true)
			rep, err := ApplyBalance(m, layers, rec, BalanceOptions{Fold: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range rep.Layers {
				if a.Kind != tc.kind || a.Note != tc.note || tc.node != "" && a.Node != tc.node {
					t.Errorf("%+v, want kind %q node %q note %s", a, tc.kind, tc.node, tc.note)
				}
			}
		})
	}
}

func TestApplyBalanceFoldRefusals(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	// Per-layer (different) factors on q, k, v: no fold into the LayerNorm.
	orig, names := transformerBlock()
	var layers []*Layer
	for _, n := range names {
		layers = append(layers, layer(orig, n))
	}
	m := orig.Clone()
	rep, err := ApplyBalance(m, layers[:3], balanceRecord(rng, orig, layers[:3], false), BalanceOptions{Fold: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Layers {
		if a.Kind != BalanceMul || !strings.Contains(a.Note, "different factors") {
			t.Errorf("%+v: want a Mul because the factors differ", a)
		}
	}
	// Only q balanced (k and v read the tensor too): no fold.
	m = orig.Clone()
	rep, err = ApplyBalance(m, layers[:1], balanceRecord(rng, orig, layers[:1], true), BalanceOptions{Fold: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := rep.Layers[0]; a.Kind != BalanceMul || a.Note == "" {
		t.Errorf("%+v: want a Mul with a note", a)
	}
	in := map[string]*onnx.Tensor{"x": randInput(rng, -1, 3, 8)}
	compareOutputs(t, "refusal", runSim(t, m, in), runSim(t, orig, in), 2e-5)
}
