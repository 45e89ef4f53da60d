package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

func init() { register("Resize", buildResize) }

// resizeAttrs are the attributes of a Resize node that sim implements.
type resizeAttrs struct {
	mode           string  // nearest, linear, cubic
	coord          string  // coordinate_transformation_mode
	nearest        string  // nearest_mode
	cubicA         float64 // cubic_coeff_a
	excludeOutside bool
	extrapolation  float64
	axes           []int64 // opset 18; nil means all axes
	policy         string  // keep_aspect_ratio_policy (opset 18)
}

// Resize (opsets 10-18). Interpolation follows the ONNX reference
// implementation: separable, one axis at a time from the last to the first,
// in float64, with taps outside the input clamped to its edge (or dropped
// and the weights renormalised with exclude_outside). antialias=1 is
// rejected. Nearest mode works for every element type; linear and cubic for
// float32, float16 and float64.
func buildResize(b *buildCtx, n *onnx.Node) (opFunc, error) {
	allowed := []string{"mode"}
	if b.opset >= 11 {
		allowed = append(allowed, "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
			"extrapolation_value", "nearest_mode")
	}
	if b.opset >= 18 {
		allowed = append(allowed, "antialias", "axes", "keep_aspect_ratio_policy")
	}
	if err := checkAttrs(n, allowed...); err != nil {
		return nil, err
	}
	p := resizeAttrs{
		mode:           n.AttrString("mode", "nearest"),
		coord:          n.AttrString("coordinate_transformation_mode", "half_pixel"),
		nearest:        n.AttrString("nearest_mode", "round_prefer_floor"),
		cubicA:         float64(n.AttrFloat("cubic_coeff_a", -0.75)),
		excludeOutside: n.AttrInt("exclude_outside", 0) != 0,
		extrapolation:  float64(n.AttrFloat("extrapolation_value", 0)),
		axes:           n.AttrInts("axes"),
		policy:         n.AttrString("keep_aspect_ratio_policy", "stretch"),
	}
	if b.opset < 11 {
		p.coord = "asymmetric" // opset 10 semantics
	}
	switch p.mode {
	case "nearest", "linear", "cubic":
	default:
		return nil, fmt.Errorf("mode %q is not supported", p.mode)
	}
	switch p.coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", p.coord)
	}
	switch p.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, fmt.Errorf("nearest_mode %q is not supported", p.nearest)
	}
	switch p.policy {
	case "stretch", "not_larger", "not_smaller":
	default:
		return nil, fmt.Errorf("keep_aspect_ratio_policy %q is not supported", p.policy)
	}
	if n.AttrInt("antialias", 0) != 0 {
		return nil, fmt.Errorf("antialias=1 is not supported")
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		return runResize(c, &p, b.opset, in)
	}, nil
}

func runResize(c *runCtx, p *resizeAttrs, opset int64, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	x := in[0]
	r := len(x.Shape)
	arg := func(i int) *onnx.Tensor {
		if i < len(in) && in[i] != nil && dataLen(in[i]) > 0 {
			return in[i]
		}
		return nil
	}
	roiT, scalesT, sizesT := arg(1), arg(2), arg(3)
	if opset < 11 {
		roiT, scalesT, sizesT = nil, arg(1), nil
	}
	axes := make([]int, 0, r)
	if p.axes == nil {
		for i := range r {
			axes = append(axes, i)
		}
	} else {
		seen := make([]bool, r)
		for _, v := range p.axes {
			a, err := onnx.Axis(v, r)
			if err != nil {
				return nil, err
			}
			if seen[a] {
				return nil, fmt.Errorf("axes %v repeat axis %d", p.axes, a)
			}
			seen[a] = true
			axes = append(axes, a)
		}
	}
	scale := make([]float64, r)
	outShape := append([]int(nil), x.Shape...)
	for i := range scale {
		scale[i] = 1
	}
	switch {
	case scalesT != nil && sizesT != nil:
		return nil, fmt.Errorf("scales and sizes are both given")
	case scalesT != nil:
		s, err := resizeFloats(scalesT, "scales")
		if err != nil {
			return nil, err
		}
		if len(s) != len(axes) {
			return nil, fmt.Errorf("scales %v has %d entries for %d axes", s, len(s), len(axes))
		}
		for k, a := range axes {
			if !(s[k] > 0) || math.IsInf(s[k], 0) {
				return nil, fmt.Errorf("scale %g on axis %d is not positive and finite", s[k], a)
			}
			scale[a] = s[k]
			outShape[a] = int(s[k] * float64(x.Shape[a]))
		}
	case sizesT != nil:
		sz, err := shapeInts(sizesT, "sizes")
		if err != nil {
			return nil, err
		}
		if len(sz) != len(axes) {
			return nil, fmt.Errorf("sizes %v has %d entries for %d axes", sz, len(sz), len(axes))
		}
		for k, a := range axes {
			if sz[k] < 0 || sz[k] > math.MaxInt32 {
				return nil, fmt.Errorf("size %d on axis %d is invalid", sz[k], a)
			}
			if x.Shape[a] == 0 {
				return nil, fmt.Errorf("cannot resize axis %d of size 0", a)
			}
			scale[a] = float64(sz[k]) / float64(x.Shape[a])
			outShape[a] = int(sz[k])
		}
		if p.policy != "stretch" {
			s := scale[axes[0]]
			for _, a := range axes[1:] {
				if p.policy == "not_larger" {
					s = min(s, scale[a])
				} else {
					s = max(s, scale[a])
				}
			}
			for _, a := range axes {
				scale[a] = s
				outShape[a] = int(math.Floor(float64(s*float64(x.Shape[a])) + 0.5))
			}
		}
	default:
		return nil, fmt.Errorf("one of scales and sizes is required")
	}
	if err := checkAllocShape(outShape); err != nil {
		return nil, err
	}
	var roi []float64
	if p.coord == "tf_crop_and_resize" {
		if roiT == nil {
			return nil, fmt.Errorf("tf_crop_and_resize needs roi")
		}
		v, err := resizeFloats(roiT, "roi")
		if err != nil {
			return nil, err
		}
		if len(v) != 2*len(axes) {
			return nil, fmt.Errorf("roi %v needs %d entries", v, 2*len(axes))
		}
		roi = make([]float64, 2*r)
		for i := range r {
			roi[i], roi[r+i] = 0, 1
		}
		for k, a := range axes {
			roi[a], roi[r+a] = v[k], v[len(axes)+k]
		}
	}
	plans := make([]*resizePlan, r)
	for a := r - 1; a >= 0; a-- {
		var lo, hi float64
		if roi != nil {
			lo, hi = roi[a], roi[r+a]
		}
		pa := p
		if opset < 11 && p.mode == "nearest" {
			pa = resize10Nearest(p, scale[a])
		}
		plans[a] = planAxis(pa, x.Shape[a], outShape[a], scale[a], lo, hi)
	}
	switch x.Data.(type) {
	case []float32, []float64:
	default:
		if p.mode != "nearest" || p.coord == "tf_crop_and_resize" {
			return nil, fmt.Errorf("%s resize of %v is not supported", p.mode, x.DType)
		}
		return resizeNearest(c, x, plans)
	}
	// Float path: every axis that is not the identity is one separable pass.
	cur := toFloat64(x)
	shape := append([]int(nil), x.Shape...)
	for a := r - 1; a >= 0; a-- {
		pl := plans[a]
		if pl.identity {
			continue
		}
		outer, inner := onnx.NumElems(shape[:a]), onnx.NumElems(shape[a+1:])
		next := make([]float64, outer*pl.outLen*inner)
		interpAxis(c.threads, next, cur, outer, shape[a], inner, pl)
		cur = next
		shape[a] = pl.outLen
	}
	out := &onnx.Tensor{DType: x.DType, Shape: shape}
	if x.DType == onnx.Double {
		out.Data = cur
	} else {
		d := make([]float32, len(cur))
		for i, v := range cur {
			d[i] = float32(v)
		}
		onnx.RoundToPrecision(d, x.DType)
		out.Data = d
	}
	return []*onnx.Tensor{out}, nil
}

// resize10Nearest returns p with the rounding of a nearest Resize-10 on an
// axis of the given scale. Resize-10 names none; sim rounds as ONNX
// Runtime does: down on an axis that is enlarged or kept (as ONNX's
// version converter and torch.onnx's nearest upsampling), up on one that
// shrinks (see docs/design.md "Old opsets").
func resize10Nearest(p *resizeAttrs, scale float64) *resizeAttrs {
	q := *p
	q.nearest = "floor"
	if scale < 1 {
		q.nearest = "ceil"
	}
	return &q
}

// resizeFloats reads a float32 or float64 tensor (scales, roi).
func resizeFloats(t *onnx.Tensor, what string) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	case []float64:
		return d, nil
	}
	return nil, fmt.Errorf("%s must be a float tensor, got %v", what, t.DType)
}

func toFloat64(x *onnx.Tensor) []float64 {
	if d, ok := x.Data.([]float64); ok {
		return d
	}
	s := x.Data.([]float32)
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// resizePlan says, for each output position of one axis, which input
// positions it reads (taps per position) with which weights; a position
// with extrap set takes the extrapolation value instead.
type resizePlan struct {
	outLen   int
	taps     int
	idx      []int
	w        []float64
	extrap   []bool
	extVal   float64
	identity bool
}

// planAxis maps output positions to input coordinates with the coordinate
// transformation mode, then to taps with the interpolation mode.
func planAxis(p *resizeAttrs, inLen, outLen int, scale, roiLo, roiHi float64) *resizePlan {
	taps := map[string]int{"nearest": 1, "linear": 2, "cubic": 4}[p.mode]
	pl := &resizePlan{outLen: outLen, taps: taps, idx: make([]int, outLen*taps), w: make([]float64, outLen*taps), extVal: p.extrapolation}
	// The reference implementation measures the output length as
	// scale*inLen, which differs from outLen when scales are given.
	resized := float64(scale * float64(inLen))
	identity := inLen == outLen
	for j := range outLen {
		xr := float64(j)
		var xo float64
		switch p.coord {
		case "half_pixel":
			xo = (xr+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			if resized > 1 {
				xo = (xr+0.5)/scale - 0.5
			}
		case "align_corners":
			if resized != 1 {
				xo = xr * float64(inLen-1) / (resized - 1)
			}
		case "asymmetric":
			xo = xr / scale
		case "tf_half_pixel_for_nn":
			xo = (xr + 0.5) / scale
		case "tf_crop_and_resize":
			if resized > 1 {
				xo = float64(roiLo*float64(inLen-1)) + xr*(roiHi-roiLo)*float64(inLen-1)/(resized-1)
			} else {
				xo = 0.5 * (roiLo + roiHi) * float64(inLen-1)
			}
			if xo < 0 || xo > float64(inLen-1) {
				if pl.extrap == nil {
					pl.extrap = make([]bool, outLen)
				}
				pl.extrap[j] = true
				identity = false
				continue
			}
		}
		if xo != xr {
			identity = false
		}
		base := math.Floor(xo)
		ratio := xo - base
		if ratio == 0 {
			// The reference prefers the left neighbours: ratio in (0, 1].
			base--
			ratio = 1
		}
		ib := int(base)
		idx, w := pl.idx[j*taps:(j+1)*taps], pl.w[j*taps:(j+1)*taps]
		switch p.mode {
		case "nearest":
			up := false
			switch {
			case ratio == 1:
				up = true
			case p.nearest == "round_prefer_floor":
				up = ratio > 0.5
			case p.nearest == "round_prefer_ceil":
				up = ratio >= 0.5
			case p.nearest == "ceil":
				up = true
			}
			idx[0], w[0] = ib, 1
			if up {
				idx[0] = ib + 1
			}
		case "linear":
			idx[0], idx[1] = ib, ib+1
			w[0], w[1] = 1-ratio, ratio
		case "cubic":
			a := p.cubicA
			cub := func(t float64) float64 { // Keys kernel, t = |distance|
				switch {
				// Every product rounded: no fused multiply-add on any
				// architecture (docs/design.md "Same bits on every
				// architecture").
				case t <= 1:
					p := float64((a+2)*t) - (a + 3)
					return float64(p*t*t) + 1
				case t < 2:
					p := float64(a*t) - float64(5*a)
					p = float64(p*t) + float64(8*a)
					return float64(p*t) - float64(4*a)
				}
				return 0
			}
			for k := range 4 {
				idx[k] = ib - 1 + k
			}
			w[0], w[1], w[2], w[3] = cub(ratio+1), cub(ratio), cub(1-ratio), cub(2-ratio)
		}
		if p.excludeOutside {
			sum := 0.0
			for k := range idx {
				if idx[k] < 0 || idx[k] >= inLen {
					w[k] = 0
				}
				sum += w[k]
			}
			if sum != 0 {
				for k := range w {
					w[k] /= sum
				}
			}
		}
		for k := range idx {
			idx[k] = min(max(idx[k], 0), inLen-1)
		}
	}
	pl.identity = identity
	return pl
}

// interpAxis runs one separable pass: dst[o, j, i] = sum_k w[j,k] *
// src[o, idx[j,k], i].
func interpAxis(threads int, dst, src []float64, outer, inLen, inner int, pl *resizePlan) {
	rows := outer * pl.outLen
	parallelFor(threads, rows, max(1, 4096/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, j := r/pl.outLen, r%pl.outLen
			d := dst[r*inner : (r+1)*inner]
			if pl.extrap != nil && pl.extrap[j] {
				for i := range d {
					d[i] = pl.extVal
				}
				continue
			}
			for k := range pl.taps {
				wk := pl.w[j*pl.taps+k]
				s := src[(o*inLen+pl.idx[j*pl.taps+k])*inner:]
				if k == 0 {
					for i := range d {
						d[i] = wk * s[i]
					}
					continue
				}
				for i := range d {
					d[i] += float64(wk * s[i])
				}
			}
		}
	})
}

// resizeNearest resizes a tensor of any element type with nearest
// neighbours: one gather per axis.
func resizeNearest(c *runCtx, x *onnx.Tensor, plans []*resizePlan) ([]*onnx.Tensor, error) {
	idxs := make([][]int, len(plans))
	for a, pl := range plans {
		if !pl.identity {
			idxs[a] = pl.idx
		}
	}
	y, err := gatherAxes(c.threads, x, idxs)
	if err != nil {
		return nil, err
	}
	return []*onnx.Tensor{y}, nil
}
