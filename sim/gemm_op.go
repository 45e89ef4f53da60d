package sim

import (
	"fmt"
	"sync/atomic"

	"amq/onnx"
)

// The ONNX Gemm operator; the matrix multiplication kernel it calls is in
// sgemm.go.

func init() {
	register("Gemm", buildGemm)
}

// gemmNode is a Gemm prepared at build time; offset is the activation
// offset of the int8 path (AscendQuant's).
type gemmNode struct {
	alpha, beta    float32
	transA, transB bool
	offset         int
	i8             *igemmWeights // B packed for the int8 kernels, when an initializer
	// weights caches a float B packed for the float kernels, when B is
	// an initializer that packsWeights accepts (gemm_packed.go).
	weights *atomic.Pointer[packedB]
}

func buildGemm(b *buildCtx, n *onnx.Node) (opFunc, error) {
	allowed := []string{"alpha", "beta", "transA", "transB"}
	if b.opset < 7 {
		// Gemm-6 and older flag C's broadcasting with an attribute; sim
		// always broadcasts C unidirectionally, which is a superset.
		allowed = append(allowed, "broadcast")
	}
	if err := checkAttrs(n, allowed...); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, fmt.Errorf("want inputs A, B and optional C, got %d", len(n.Inputs))
	}
	gn := &gemmNode{
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
	}
	var err error
	if gn.offset, err = quantOffset(b, n.Inputs[0]); err != nil {
		return nil, err
	}
	if isInitializer(b.graph, n.Inputs[1]) {
		gn.i8 = new(igemmWeights)
	}
	if packsWeights(b.graph, n.Inputs[1]) {
		gn.weights = new(atomic.Pointer[packedB])
	}
	return gn.run, nil
}

// gemmBias returns, for C of shape cs broadcast unidirectionally to
// [m, n], the strides to read C's element (i, j) at i*rs + j*cs.
func gemmBias(cs []int, m, n int) (rs, colStride int, err error) {
	var d []int
	switch len(cs) {
	case 0:
		d = []int{1, 1}
	case 1:
		d = []int{1, cs[0]}
	case 2:
		d = cs
	default:
		return 0, 0, fmt.Errorf("C %v has rank %d, want at most 2", cs, len(cs))
	}
	if (d[0] != 1 && d[0] != m) || (d[1] != 1 && d[1] != n) {
		return 0, 0, fmt.Errorf("C %v does not broadcast to [%d %d]", cs, m, n)
	}
	if d[0] != 1 {
		rs = d[1]
	}
	if d[1] != 1 {
		colStride = 1
	}
	return rs, colStride, nil
}

func (gn *gemmNode) run(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	a, b := in[0], in[1]
	var bias *onnx.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, fmt.Errorf("A %v and B %v must be matrices", a.Shape, b.Shape)
	}
	m, k := a.Shape[0], a.Shape[1]
	if gn.transA {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if gn.transB {
		kb, n = n, kb
	}
	if k != kb {
		return nil, fmt.Errorf("inner dimensions differ: A %v (transA %v), B %v (transB %v)", a.Shape, gn.transA, b.Shape, gn.transB)
	}
	var rs, cs int
	if bias != nil {
		var err error
		if rs, cs, err = gemmBias(bias.Shape, m, n); err != nil {
			return nil, err
		}
	}
	switch a.DType {
	case onnx.Float:
		ad, bd, cd, err := floatOperands(a, b, bias)
		if err != nil {
			return nil, err
		}
		y := outSlice[float32](c, m*n)
		beta := float32(0)
		if cd != nil && gn.beta != 0 {
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					y[i*n+j] = cd[i*rs+j*cs]
				}
			}
			beta = gn.beta
		}
		am, bm := matrix{data: ad, ld: a.Shape[1], trans: gn.transA}, matrix{data: bd, ld: b.Shape[1], trans: gn.transB}
		if gn.weights != nil && len(bd) > 0 {
			packedGemmWeight(gn.weights, bm, k, n).gemm(m, gn.alpha, am, beta, y, c.threads)
		} else {
			sgemm(m, n, k, gn.alpha, am, bm, beta, y, n, c.threads)
		}
		return []*onnx.Tensor{onnx.NewTensor([]int{m, n}, y)}, nil
	case onnx.Int8:
		if gn.alpha != 1 || (bias != nil && gn.beta != 1) {
			return nil, fmt.Errorf("INT8 Gemm needs alpha = beta = 1, got %g and %g", gn.alpha, gn.beta)
		}
		if y, ok := gemmInt8(c, a, b, bias, rs, cs, m, n, k, gn.transA, gn.transB, gn.offset, gn.i8); ok {
			return []*onnx.Tensor{onnx.NewTensor([]int{m, n}, y)}, nil
		}
		ad, bd, cd, err := intOperands(a, b, bias, gn.offset)
		if err != nil {
			return nil, err
		}
		acc := make([]int64, m*n)
		if cd != nil {
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					acc[i*n+j] = int64(cd[i*rs+j*cs])
				}
			}
		}
		igemmExact(m, n, k, matrix{data: ad, ld: a.Shape[1], trans: gn.transA},
			matrix{data: bd, ld: b.Shape[1], trans: gn.transB}, acc, n, c.threads)
		return []*onnx.Tensor{onnx.NewTensor([]int{m, n}, saturateInt32(acc, n, nil))}, nil
	}
	return nil, fmt.Errorf("input A has type %v; Gemm supports FLOAT, and INT8 from AscendQuant", a.DType)
}
