package sim

import (
	"math"

	"amq/onnx"
)

// float16 and bfloat16 models (docs/design.md "Loading large models"):
// sim holds a FLOAT16 or BFLOAT16 tensor as float32 values rounded to its
// precision, as package onnx does. An operator reading such tensors
// computes in float32 on them, relabelled FLOAT, and its float results are
// rounded back to the type (halfRun), which is what ONNX Runtime's CPU
// kernels do for most float16 operators. Large initializers loaded with
// onnx.LoadFileHalves stay 16-bit (onnx.Halves): MatMul widens B a panel
// at a time (matmul_half.go) and Gather the rows it picks; for any other
// reader they are widened once when the session is made (widenHalfConsts).
// FLOAT constants held as an onnx.Compact (a float16 model's weights while
// it is quantized, fake-quantized weights as int8 codes) are treated the
// same way.

// halfReaders are the inputs that read an onnx.Halves constant without
// widening it whole: op type and input index; the same holds for an
// onnx.Compact constant (a FLOAT weight held 16-bit or as int8 codes).
var halfReaders = map[string]int{"MatMul": 1, "Gather": 0}

// widenHalfConsts replaces, in s.consts, every onnx.Halves or onnx.Compact
// constant that some node reads other than as a halfReaders input by its
// float32 form.
func widenHalfConsts(s *Session, g *onnx.Graph) {
	for _, n := range g.Nodes {
		for j, in := range n.Inputs {
			c, ok := s.consts[in]
			if !ok {
				continue
			}
			switch c.Data.(type) {
			case onnx.Halves, onnx.Compact:
				if k, ok := halfReaders[n.OpType]; ok && k == j && n.Domain == "" {
					continue
				}
			default:
				continue
			}
			s.consts[in] = c.Widened()
		}
	}
}

// halfType returns the 16-bit float type among args (FLOAT16 or
// BFLOAT16), or Undefined when there is none.
func halfType(args []*onnx.Tensor) onnx.DataType {
	for _, t := range args {
		if t != nil && (t.DType == onnx.Float16 || t.DType == onnx.BFloat16) {
			return t.DType
		}
	}
	return onnx.Undefined
}

// asFloat relabels the args of type dt as FLOAT, in new tensor headers
// sharing their data (never the caller's tensors, which other steps read).
// onnx.Halves keep their type, which says how to widen them.
func asFloat(args []*onnx.Tensor, dt onnx.DataType) {
	for i, t := range args {
		if t == nil || t.DType != dt {
			continue
		}
		if _, half := t.Data.(onnx.Halves); !half {
			args[i] = &onnx.Tensor{Name: t.Name, DType: onnx.Float, Shape: t.Shape, Data: t.Data}
		}
	}
}

// roundOutputs rounds the FLOAT results of a step that read dt tensors to
// dt's precision, in place, and labels them dt. Only elements that change
// are written: a result that is a view of an input (Reshape, Slice) holds
// dt values already and is left untouched, however shared its memory.
func roundOutputs(outs []*onnx.Tensor, dt onnx.DataType, threads int) {
	round := roundHalf
	if dt == onnx.BFloat16 {
		round = roundBFloat16
	}
	for _, t := range outs {
		if t == nil || t.DType != onnx.Float {
			continue
		}
		if d, ok := t.Data.([]float32); ok {
			parallelFor(threads, len(d), elemGrain, func(lo, hi int) {
				for i, v := range d[lo:hi] {
					if r := round(v); math.Float32bits(r) != math.Float32bits(v) {
						d[lo+i] = r
					}
				}
			})
		}
		t.DType = dt
	}
}

// roundBFloat16 rounds v to bfloat16 precision, half to even, as
// onnx.Float32ToBFloat16 does, held as a float32.
func roundBFloat16(v float32) float32 {
	return onnx.BFloat16ToFloat32(onnx.Float32ToBFloat16(v))
}

// gatherWidened is gatherAs for a source held compactly (widener),
// widening only the rows it picks: an LLM's embedding table stays 16-bit
// or int8 while a batch's rows of it are read.
func gatherWidened(threads int, dst []float32, widen func(dst []float32, off int), outer, axisLen, inner int, idx []int) {
	rows := outer * len(idx)
	parallelFor(threads, rows, max(1, (1<<15)/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, j := r/len(idx), r%len(idx)
			s := (o*axisLen + idx[j]) * inner
			widen(dst[r*inner:(r+1)*inner], s)
		}
	})
}

// floatView returns, for a cast of a FLOAT16 or BFLOAT16 tensor held as
// float32 to FLOAT, a view of its data, whose values are the result
// already (a float16 model's float32 logits: no second copy); else nil.
func floatView(t *onnx.Tensor, to onnx.DataType) *onnx.Tensor {
	d, ok := t.Data.([]float32)
	if !ok || to != onnx.Float || (t.DType != onnx.Float16 && t.DType != onnx.BFloat16) {
		return nil
	}
	return &onnx.Tensor{Name: t.Name, DType: onnx.Float, Shape: append([]int(nil), t.Shape...), Data: d}
}
