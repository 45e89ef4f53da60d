package sim

import (
	"fmt"
	"sync/atomic"

	"amq/onnx"
)

func init() {
	register("MatMul", buildMatMul)
}

// matMulNode is a MatMul prepared at build time; offset is the activation
// offset of the int8 path.
type matMulNode struct {
	offset int
	i8     *igemmWeights // B packed for the int8 kernels, when an initializer
	// weights keeps B packed between runs when B is a float32
	// initializer (matmul_packed.go); nil otherwise.
	weights *atomic.Pointer[packedB]
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
	if isInitializer(b.graph, n.Inputs[1]) {
		mn.i8 = new(igemmWeights)
	}
	if packsWeights(b.graph, n.Inputs[1]) {
		mn.weights = new(atomic.Pointer[packedB])
	}
	if b.opset >= 7 { // before, Add did not broadcast
		b.fusable = func(act *onnx.Node) opFunc {
			if run := mn.fuseBias(b.graph, n.Outputs[0], act); run != nil {
				return run
			}
			return mn.fuseInPlace(b, n.Outputs[0], act)
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
		out, biased, err := mn.product(c, in, bias)
		if err != nil || biased {
			return out, err
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

// fuseInPlace offers MatMul followed by an elementwise node that applies
// to the product in place (inPlaceOp: attention's scaling by 1/√d, an
// activation), on the float32 product where it lies, instead of writing a
// second tensor. Other products go through act's own operator.
func (mn *matMulNode) fuseInPlace(b *buildCtx, product string, act *onnx.Node) opFunc {
	post := inPlaceOp(b, act, product)
	if post == nil {
		return nil
	}
	then := actAfter(b, act, product, [2]string{})
	if then == nil {
		return nil
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		out, err := mn.run(c, in)
		if err != nil {
			return nil, err
		}
		d, ok := out[0].Data.([]float32)
		if !ok || out[0].DType != onnx.Float {
			return then(c, out[0], nil) // the int8 path's int32 product
		}
		parallelFor(c.threads, (len(d)+fuseBlock-1)/fuseBlock, 4, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				post(d[i*fuseBlock : min((i+1)*fuseBlock, len(d))])
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
	out, _, err := mn.product(c, in, nil)
	return out, err
}

// product computes the MatMul; with B packed and bias (one value per
// column of the product) not nil, it adds the bias too and reports so.
func (mn *matMulNode) product(c *runCtx, in []*onnx.Tensor, bias []float32) (out []*onnx.Tensor, biased bool, err error) {
	a, b := in[0], in[1]
	p, err := planMatMul(a.Shape, b.Shape)
	if err != nil {
		return nil, false, err
	}
	count := len(p.aOff)
	m, n, k := p.m, p.n, p.k
	// A batch of A rows against one shared B (a Linear layer on [B, S, K])
	// is a single GEMM with B*S rows.
	shared := len(b.Shape) <= 2 && len(a.Shape) > 2
	switch a.DType {
	case onnx.Float:
		if bw, ok := widener(b); ok {
			ad, err := onnx.Data[float32](a)
			if err != nil {
				return nil, false, err
			}
			return []*onnx.Tensor{onnx.NewTensor(p.outShape, matMulHalf(c, p, ad, bw, shared))}, false, nil
		}
		ad, bd, _, err := floatOperands(a, b, nil)
		if err != nil {
			return nil, false, err
		}
		// sgemm with beta 0 overwrites C: no need to clear it first.
		y := outSliceRaw[float32](c, count*m*n)
		if mn.weights != nil && len(b.Shape) == 2 && len(a.Shape) >= 2 && len(bd) > 0 {
			// B's rows are A's last axis: all of A is one GEMM.
			if len(bias) != n {
				bias = nil
			}
			packedWeight(mn.weights, bd, k, n).multiply(ad, count*m, y, bias, c.threads)
			return []*onnx.Tensor{onnx.NewTensor(p.outShape, y)}, bias != nil, nil
		}
		if shared {
			sgemm(count*m, n, k, 1, matrix{data: ad, ld: k}, matrix{data: bd, ld: n}, 0, y, n, c.threads)
		} else {
			forEachImage(count, 1, m*n*k, c.threads, 0, &f32Scratch, func(f, _ int, _ []float32, threads int) {
				sgemm(m, n, k, 1, matrix{data: ad[p.aOff[f]:], ld: k}, matrix{data: bd[p.bOff[f]:], ld: n}, 0, y[f*m*n:], n, threads)
			})
		}
		return []*onnx.Tensor{onnx.NewTensor(p.outShape, y)}, false, nil
	case onnx.Int8:
		if shared || count == 1 {
			if y, ok := gemmInt8(c, a, b, nil, 0, 0, count*m, n, k, false, false, mn.offset, mn.i8); ok {
				return []*onnx.Tensor{onnx.NewTensor(p.outShape, y)}, false, nil
			}
		}
		ad, bd, _, err := intOperands(a, b, nil, mn.offset)
		if err != nil {
			return nil, false, err
		}
		acc := make([]int64, count*m*n)
		if shared {
			igemmExact(count*m, n, k, matrix{data: ad, ld: k}, matrix{data: bd, ld: n}, acc, n, c.threads)
		} else {
			for f := 0; f < count; f++ {
				igemmExact(m, n, k, matrix{data: ad[p.aOff[f]:], ld: k}, matrix{data: bd[p.bOff[f]:], ld: n}, acc[f*m*n:], n, c.threads)
			}
		}
		return []*onnx.Tensor{onnx.NewTensor(p.outShape, saturateInt32(acc, n, nil))}, false, nil
	}
	return nil, false, fmt.Errorf("input A has type %v; MatMul supports FLOAT, and INT8 from AscendQuant", a.DType)
}
