package sim

import (
	"fmt"

	"amq/onnx"
)

func init() {
	register("MatMul", buildMatMul)
}

// matMulNode is a MatMul prepared at build time; offset is the activation
// offset of the int8 path.
type matMulNode struct {
	offset int
}

func buildMatMul(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	if len(n.Inputs) != 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, fmt.Errorf("want inputs A and B, got %d", len(n.Inputs))
	}
	off, err := quantOffset(b, n.Inputs[0])
	if err != nil {
		return nil, err
	}
	mn := &matMulNode{offset: off}
	if b.opset >= 7 { // before, Add did not broadcast
		b.fusable = func(act *onnx.Node) opFunc {
			return mn.fuseBias(b.graph, n.Outputs[0], act)
		}
	}
	return mn.run, nil
}

// fuseBias offers MatMul followed by Add of a constant float32 vector as
// long as the product's rows (a Linear layer's bias, as torch.onnx exports
// it): the fused form adds the vector to each row of the product in place,
// which rounds exactly as the Add does, without a second tensor.
func (mn *matMulNode) fuseBias(g *onnx.Graph, product string, act *onnx.Node) opFunc {
	if act.OpType != "Add" || len(act.Inputs) != 2 || len(act.Attrs) != 0 {
		return nil
	}
	other := act.Inputs[1]
	if act.Inputs[1] == product {
		other = act.Inputs[0]
	}
	if other == product || !isInitializer(g, other) {
		return nil
	}
	bias, ok := g.Initializers[other].Data.([]float32)
	if !ok || len(g.Initializers[other].Shape) != 1 {
		return nil
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		out, err := mn.run(c, in)
		if err != nil {
			return nil, err
		}
		y := out[0]
		d, ok := y.Data.([]float32)
		if !ok || len(y.Shape) == 0 || y.Shape[len(y.Shape)-1] != len(bias) {
			// Not the shapes the fusion is for: the Add on its own.
			t, err := arith(c, opAdd, y, g.Initializers[other])
			if err != nil {
				return nil, fmt.Errorf("fused Add %q: %w", act.Name, err)
			}
			return []*onnx.Tensor{t}, nil
		}
		n := len(bias)
		parallelFor(c.threads, len(d)/n, max(1, elemGrain/n), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := d[r*n : (r+1)*n]
				for j, v := range bias {
					row[j] += v
				}
			}
		})
		return out, nil
	}
}

// matMulPlan is the numpy.matmul shape logic: 1-D operands are promoted to
// matrices and the promoted axis is dropped from the result; the batch
// axes broadcast.
type matMulPlan struct {
	m, k, n  int
	batch    []int // broadcast batch shape
	aOff     []int // per flat batch index, offset of the A matrix
	bOff     []int
	outShape []int
}

func planMatMul(as, bs []int) (*matMulPlan, error) {
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("A %v and B %v: MatMul needs operands of rank at least 1", as, bs)
	}
	a, b := as, bs
	if len(a) == 1 {
		a = []int{1, a[0]}
	}
	if len(b) == 1 {
		b = []int{b[0], 1}
	}
	p := &matMulPlan{m: a[len(a)-2], k: a[len(a)-1], n: b[len(b)-1]}
	if b[len(b)-2] != p.k {
		return nil, fmt.Errorf("A %v and B %v: inner dimensions %d and %d differ", as, bs, p.k, b[len(b)-2])
	}
	ab, bb := a[:len(a)-2], b[:len(b)-2]
	rank := max(len(ab), len(bb))
	p.batch = make([]int, rank)
	for i := 0; i < rank; i++ {
		da, db := 1, 1
		if j := i - (rank - len(ab)); j >= 0 {
			da = ab[j]
		}
		if j := i - (rank - len(bb)); j >= 0 {
			db = bb[j]
		}
		switch {
		case da == db || db == 1:
			p.batch[i] = da
		case da == 1:
			p.batch[i] = db
		default:
			return nil, fmt.Errorf("A %v and B %v: batch dimensions %d and %d do not broadcast", as, bs, da, db)
		}
	}
	count := onnx.NumElems(p.batch)
	p.aOff = make([]int, count)
	p.bOff = make([]int, count)
	idx := make([]int, rank)
	for f := 0; f < count; f++ {
		// Row-major offsets of the operands' batch items; a broadcast
		// dimension (size 1) contributes nothing.
		oa, ob := 0, 0
		for i := 0; i < rank; i++ {
			if j := i - (rank - len(ab)); j >= 0 {
				oa = oa*ab[j] + min(idx[i], ab[j]-1)
			}
			if j := i - (rank - len(bb)); j >= 0 {
				ob = ob*bb[j] + min(idx[i], bb[j]-1)
			}
		}
		p.aOff[f] = oa * p.m * p.k
		p.bOff[f] = ob * p.k * p.n
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < p.batch[i] {
				break
			}
			idx[i] = 0
		}
	}
	p.outShape = append([]int(nil), p.batch...)
	if len(as) > 1 {
		p.outShape = append(p.outShape, p.m)
	}
	if len(bs) > 1 {
		p.outShape = append(p.outShape, p.n)
	}
	return p, nil
}

func (mn *matMulNode) run(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	a, b := in[0], in[1]
	p, err := planMatMul(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	count := len(p.aOff)
	m, n, k := p.m, p.n, p.k
	// A batch of A rows against one shared B (a Linear layer on [B, S, K])
	// is a single GEMM with B*S rows.
	shared := len(b.Shape) <= 2 && len(a.Shape) > 2
	switch a.DType {
	case onnx.Float:
		if bw, ok := compactB(b); ok {
			ad, err := onnx.Data[float32](a)
			if err != nil {
				return nil, err
			}
			return []*onnx.Tensor{onnx.NewTensor(p.outShape, matMulHalf(c, p, ad, bw, shared))}, nil
		}
		ad, bd, _, err := floatOperands(a, b, nil)
		if err != nil {
			return nil, err
		}
		y := outSlice[float32](c, count*m*n)
		if shared {
			sgemm(count*m, n, k, 1, matrix{data: ad, ld: k}, matrix{data: bd, ld: n}, 0, y, n, c.threads)
		} else {
			forEachImage(count, 1, m*n*k, c.threads, 0, &f32Scratch, func(f, _ int, _ []float32, threads int) {
				sgemm(m, n, k, 1, matrix{data: ad[p.aOff[f]:], ld: k}, matrix{data: bd[p.bOff[f]:], ld: n}, 0, y[f*m*n:], n, threads)
			})
		}
		return []*onnx.Tensor{onnx.NewTensor(p.outShape, y)}, nil
	case onnx.Int8:
		ad, bd, _, err := intOperands(a, b, nil, mn.offset)
		if err != nil {
			return nil, err
		}
		acc := make([]int64, count*m*n)
		if shared {
			igemmExact(count*m, n, k, matrix{data: ad, ld: k}, matrix{data: bd, ld: n}, acc, n, c.threads)
		} else {
			for f := 0; f < count; f++ {
				igemmExact(m, n, k, matrix{data: ad[p.aOff[f]:], ld: k}, matrix{data: bd[p.bOff[f]:], ld: n}, acc[f*m*n:], n, c.threads)
			}
		}
		return []*onnx.Tensor{onnx.NewTensor(p.outShape, saturateInt32(acc, n, nil))}, nil
	}
	return nil, fmt.Errorf("input A has type %v; MatMul supports FLOAT, and INT8 from AscendQuant", a.DType)
}
