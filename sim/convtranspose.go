package sim

import (
	"fmt"
	"slices"

	"amq/onnx"
)

// ConvTranspose is computed as the adjoint of Conv: a GEMM W^T * X gives,
// for every output channel and kernel tap, the contribution of each input
// position (the "columns"), and col2im adds those into the output, which is
// im2col run backwards.

func init() {
	register("ConvTranspose", buildConvTranspose)
}

// convTransposeNode is a ConvTranspose prepared at build time.
type convTransposeNode struct {
	w           windowAttrs
	group       int
	outPadding  []int
	outputShape []int
	offset      int
}

func buildConvTranspose(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, fmt.Errorf("want inputs X, W and optional B, got %d", len(n.Inputs))
	}
	w, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	ct := &convTransposeNode{
		w:           w,
		group:       int(n.AttrInt("group", 1)),
		outPadding:  intsAttr(n, "output_padding"),
		outputShape: intsAttr(n, "output_shape"),
	}
	if ct.group < 1 {
		return nil, fmt.Errorf("group %d is below 1", ct.group)
	}
	for _, v := range ct.outPadding {
		if v < 0 {
			return nil, fmt.Errorf("output_padding %v has a negative value", ct.outPadding)
		}
	}
	if ct.offset, err = quantOffset(b, n.Inputs[0]); err != nil {
		return nil, err
	}
	return ct.run, nil
}

// geometry checks X, W and the attributes that only ConvTranspose has,
// and resolves the geometry (see windowAttrs.adjoint).
func (ct *convTransposeNode) geometry(x, w *onnx.Tensor) (*geom, error) {
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("input X %v and weight W %v: want equal ranks of at least 3", x.Shape, w.Shape)
	}
	spatial := x.Shape[2:]
	nd := len(spatial)
	kernel := w.Shape[2:]
	if ct.w.kernel != nil && !slices.Equal(ct.w.kernel, kernel) {
		return nil, fmt.Errorf("kernel_shape %v differs from weight W %v", ct.w.kernel, w.Shape)
	}
	if ct.outPadding != nil && len(ct.outPadding) != nd {
		return nil, fmt.Errorf("output_padding %v has %d values, want %d", ct.outPadding, len(ct.outPadding), nd)
	}
	outShape := ct.outputShape
	if len(outShape) == nd+2 {
		outShape = outShape[2:] // some exporters include N and C
	}
	if outShape != nil && len(outShape) != nd {
		return nil, fmt.Errorf("output_shape %v has %d values, want %d", ct.outputShape, len(ct.outputShape), nd)
	}
	return ct.w.adjoint(spatial, kernel, ct.outPadding, outShape)
}

// col2im adds the columns of col (rows (c, kd, kh, kw), one column per
// position of g.out) into y (channels planes of g.inN), skipping taps that
// fall into the padding. Channels are split across threads, so no two
// goroutines write the same plane.
func col2im[T float32 | int64](y, col []T, g *geom, channels, threads int) {
	parallelFor(threads, channels, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			dst := y[c*g.inN : (c+1)*g.inN]
			for t := 0; t < g.kN; t++ {
				src := col[(c*g.kN+t)*g.outN : (c*g.kN+t+1)*g.outN]
				tp := &g.taps[t]
				wlo, whi, baseW := tp.lo[2], tp.hi[2], tp.base[2]
				if wlo >= whi {
					continue
				}
				for od := tp.lo[0]; od < tp.hi[0]; od++ {
					for oh := tp.lo[1]; oh < tp.hi[1]; oh++ {
						// The adjoint Conv's input is this op's output.
						out := dst[g.inRow(tp, od, oh):][:g.in[2]]
						in := src[g.outRow(od, oh):][:g.out[2]]
						for ow := wlo; ow < whi; ow++ {
							out[ow*g.s[2]+baseW] += in[ow]
						}
					}
				}
			}
		}
	})
}

func (ct *convTransposeNode) run(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	x, w := in[0], in[1]
	var bias *onnx.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	g, err := ct.geometry(x, w)
	if err != nil {
		return nil, err
	}
	ch := x.Shape[1]
	if w.Shape[0] != ch || ch%ct.group != 0 {
		return nil, fmt.Errorf("weight W %v: want %d input channels (of X %v) divisible by group %d", w.Shape, ch, x.Shape, ct.group)
	}
	m := w.Shape[1] * ct.group
	if bias != nil && (len(bias.Shape) != 1 || bias.Shape[0] != m) {
		return nil, fmt.Errorf("bias B %v, want [%d]", bias.Shape, m)
	}
	shape := append([]int{x.Shape[0], m}, g.in[3-g.nd:]...)
	switch x.DType {
	case onnx.Float:
		return ct.runFloat(c, x, w, bias, g, shape)
	case onnx.Int8:
		return ct.runInt8(c, x, w, bias, g, shape)
	}
	return nil, fmt.Errorf("input X has type %v; ConvTranspose supports FLOAT, and INT8 from AscendQuant", x.DType)
}

// runFloat computes the columns W^T X per image and group with the GEMM
// and scatters them into the output with col2im.
func (ct *convTransposeNode) runFloat(c *runCtx, x, w, bias *onnx.Tensor, g *geom, shape []int) ([]*onnx.Tensor, error) {
	xd, wd, bd, err := floatOperands(x, w, bias)
	if err != nil {
		return nil, err
	}
	batch, ch, m := shape[0], x.Shape[1], shape[1]
	cg, mg := ch/ct.group, m/ct.group
	rows := mg * g.kN
	y := outSlice[float32](c, batch*m*g.inN)
	forEachImage(batch, ct.group, rows*g.outN*cg, c.threads, rows*g.outN, &f32Scratch, func(bi, gi int, col []float32, threads int) {
		a := matrix{data: wd[gi*cg*rows:], ld: rows, trans: true}
		b := matrix{data: xd[(bi*ch+gi*cg)*g.outN:], ld: g.outN}
		sgemm(rows, g.outN, cg, 1, a, b, 0, col, g.outN, threads)
		col2im(y[(bi*m+gi*mg)*g.inN:], col, g, mg, threads)
	})
	if bd != nil {
		parallelFor(c.threads, batch*m, 8, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				v := bd[r%m]
				row := y[r*g.inN : (r+1)*g.inN]
				for j := range row {
					row[j] += v
				}
			}
		})
	}
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}

// runInt8 is runFloat's exact int32 counterpart for deploy models.
func (ct *convTransposeNode) runInt8(c *runCtx, x, w, bias *onnx.Tensor, g *geom, shape []int) ([]*onnx.Tensor, error) {
	xd, wd, bd, err := intOperands(x, w, bias, ct.offset)
	if err != nil {
		return nil, err
	}
	batch, ch, m := shape[0], x.Shape[1], shape[1]
	cg, mg := ch/ct.group, m/ct.group
	rows := mg * g.kN
	acc := make([]int64, batch*m*g.inN)
	forEachImage(batch, ct.group, rows*g.outN*cg, c.threads, rows*g.outN, &i64Scratch, func(bi, gi int, col []int64, threads int) {
		clear(col)
		a := matrix{data: wd[gi*cg*rows:], ld: rows, trans: true}
		b := matrix{data: xd[(bi*ch+gi*cg)*g.outN:], ld: g.outN}
		igemmExact(rows, g.outN, cg, a, b, col, g.outN, threads)
		col2im(acc[(bi*m+gi*mg)*g.inN:], col, g, mg, threads)
	})
	y := saturateInt32(acc, g.inN, bd)
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}
