package onnx

import "fmt"

// Operators that select, join, split or repeat the elements of their
// inputs. When the inputs' values are known and small, the output's value
// is gathered from them.

func init() {
	inferAs((*shapeInfer).concat, "Concat")
	inferAs((*shapeInfer).split, "Split")
	inferAs((*shapeInfer).slice, "Slice")
	inferAs((*shapeInfer).gather, "Gather")
	inferAs((*shapeInfer).gatherElements, "GatherElements")
	inferAs((*shapeInfer).expand, "Expand")
	inferAs((*shapeInfer).tile, "Tile")
	inferAs((*shapeInfer).pad, "Pad")
}

func (s *shapeInfer) concat(n *Node) error {
	x, a, err := s.inputAxis(n, 0)
	if err != nil {
		return err
	}
	out := append([]int(nil), x...)
	out[a] = 0
	var srcs []*Tensor
	var shapes [][]int
	for i := range n.Inputs {
		sh, ok := s.in(n, i)
		if !ok {
			continue
		}
		if len(sh) != len(x) {
			return fmt.Errorf("input %d has shape %v, input 0 has %v", i, sh, x)
		}
		for k := range sh {
			if k != a && sh[k] != x[k] {
				return fmt.Errorf("input %d has shape %v, incompatible with %v", i, sh, x)
			}
		}
		out[a] += sh[a]
		shapes = append(shapes, sh)
		if v, ok := s.val(n, i); ok {
			srcs = append(srcs, v)
		}
	}
	return s.setPicked(n, out, s.dt(n, 0), srcs, func() []int { return concatIndex(out, shapes, a) })
}

// concatIndex maps each element of Concat's output (shape out) to its
// offset in the concatenated data of the inputs (shapes), joined on axis
// a: output position (o, j, i) on the axis comes from the input holding
// j, at its offset in the concatenated data.
func concatIndex(out []int, shapes [][]int, a int) []int {
	outer, inner := NumElems(out[:a]), NumElems(out[a+1:])
	idx := make([]int, 0, NumElems(out))
	for o := range outer {
		base := 0
		for _, sh := range shapes {
			blk := sh[a] * inner
			for j := range blk {
				idx = append(idx, base+o*blk+j)
			}
			base += NumElems(sh)
		}
	}
	return idx
}

func (s *shapeInfer) split(n *Node) error {
	x, a, err := s.inputAxis(n, 0)
	if err != nil {
		return err
	}
	split := n.AttrInts("split")
	if n.Input(1) != "" {
		if split, err = s.ints(n, 1, "split"); err != nil {
			return err
		}
	}
	sizes, err := splitSizes(n, split, a, x[a])
	if err != nil {
		return err
	}
	for i, sz := range sizes {
		out := append([]int(nil), x...)
		out[a] = sz
		s.set(n, i, out, s.dt(n, 0))
	}
	return nil
}

// splitSizes returns the sizes of Split's outputs on axis a, of size d:
// as given, or in equal parts (the last one smaller with num_outputs).
func splitSizes(n *Node, split []int64, a, d int) ([]int, error) {
	k := len(n.Outputs)
	sizes := make([]int, k)
	switch {
	case split != nil:
		if len(split) != k {
			return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), k)
		}
		sum := 0
		for i, v := range split {
			sizes[i] = int(v)
			sum += int(v)
		}
		if sum != d {
			return nil, fmt.Errorf("split %v sums to %d, axis %d has %d", split, sum, a, d)
		}
	case n.HasAttr("num_outputs"):
		chunk := (d + k - 1) / k
		left := d
		for i := range sizes {
			sizes[i] = min(chunk, left)
			left -= sizes[i]
		}
	default:
		if d%k != 0 {
			return nil, fmt.Errorf("axis %d of size %d does not split into %d equal parts", a, d, k)
		}
		for i := range sizes {
			sizes[i] = d / k
		}
	}
	return sizes, nil
}

func (s *shapeInfer) slice(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	starts, ends, axes, steps, err := s.sliceArgs(n)
	if err != nil {
		return err
	}
	out := append([]int(nil), x...)
	xs := denseStrides(x)
	st := append([]int(nil), xs...)
	off := 0
	for k := range starts {
		ax := int64(k)
		if axes != nil {
			ax = axes[k]
		}
		a, err := Axis(ax, len(x))
		if err != nil {
			return err
		}
		step := int64(1)
		if steps != nil {
			step = steps[k]
		}
		if step == 0 {
			return fmt.Errorf("step 0 on axis %d", a)
		}
		b, cnt, step := sliceAxis(starts[k], ends[k], step, int64(x[a]))
		out[a] = int(cnt)
		st[a] = int(step) * xs[a]
		off += int(b) * xs[a]
	}
	return s.setPicked(n, out, s.dt(n, 0), s.values(n, 0), func() []int { return stridedIndex(out, st, off) })
}

// sliceArgs returns Slice's starts, ends, axes and steps: inputs 1 to 4,
// or attributes before opset 10. Axes and steps are nil when omitted.
func (s *shapeInfer) sliceArgs(n *Node) (starts, ends, axes, steps []int64, err error) {
	var args [4][]int64
	names := [4]string{"starts", "ends", "axes", "steps"}
	for i := range 4 {
		if n.Input(i+1) == "" {
			continue
		}
		if args[i], err = s.ints(n, i+1, names[i]); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	starts, ends, axes, steps = args[0], args[1], args[2], args[3]
	if n.Input(1) == "" { // opset < 10: attributes
		starts, ends, axes = n.AttrInts("starts"), n.AttrInts("ends"), n.AttrInts("axes")
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, nil, nil, nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	return starts, ends, axes, steps, nil
}

// sliceAxis clamps a slice [b, e) with a nonzero step to an axis of size
// d, and returns its first index, its length, and the step clamped so that
// step times a stride cannot overflow.
func sliceAxis(b, e, step, d int64) (first, count, clampedStep int64) {
	if b < 0 {
		b += d
	}
	if e < 0 {
		e += d
	}
	if step > 0 {
		b, e = min(max(b, 0), d), min(max(e, 0), d)
		if e > b {
			count = (e - b + step - 1) / step
		}
	} else {
		b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
		if b > e {
			count = (b - e - step - 1) / -step
		}
	}
	if count == 0 {
		b = 0
	}
	return b, count, min(max(step, -d-1), d+1)
}

func (s *shapeInfer) gather(n *Node) error {
	x, a, err := s.inputAxis(n, 0)
	if err != nil {
		return err
	}
	ind, err := s.must(n, 1)
	if err != nil {
		return err
	}
	out := append(append(append([]int{}, x[:a]...), ind...), x[a+1:]...)
	dt := s.dt(n, 0)
	if !s.foldable(n, out) {
		s.set(n, 0, out, dt)
		return nil
	}
	raw, err := s.ints(n, 1, "indices")
	if err != nil {
		return err
	}
	iv, err := gatherIndices(raw, a, x[a])
	if err != nil {
		return err
	}
	return s.setPicked(n, out, dt, s.values(n, 0), func() []int {
		outer, inner := NumElems(x[:a]), NumElems(x[a+1:])
		idx := make([]int, 0, NumElems(out))
		for o := range outer {
			for _, v := range iv {
				for i := range inner {
					idx = append(idx, (o*x[a]+int(v))*inner+i)
				}
			}
		}
		return idx
	})
}

// gatherIndices checks indices into axis a of size d and makes negative
// ones count from the end, in a copy (raw may alias an initializer).
func gatherIndices(raw []int64, a, d int) ([]int64, error) {
	iv := make([]int64, len(raw))
	for i, v := range raw {
		if v < -int64(d) || v >= int64(d) {
			return nil, fmt.Errorf("index %d is out of range for axis %d of size %d", v, a, d)
		}
		if v < 0 {
			v += int64(d)
		}
		iv[i] = v
	}
	return iv, nil
}

// gatherElements: the output has the shape of the indices.
func (s *shapeInfer) gatherElements(n *Node) error {
	_, ind, err := s.operands(n)
	if err != nil {
		return err
	}
	s.set(n, 0, ind, s.dt(n, 0))
	return nil
}

func (s *shapeInfer) expand(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	spec, err := s.ints(n, 1, "shape")
	if err != nil {
		return err
	}
	sp, err := dims(spec)
	if err != nil {
		return err
	}
	out, err := BroadcastShapes(x, sp)
	if err != nil {
		return err
	}
	return s.setPicked(n, out, s.dt(n, 0), s.values(n, 0), func() []int { return stridedIndex(out, bcastStrides(x, out), 0) })
}

// dims converts a shape input's value to a shape.
func dims(spec []int64) ([]int, error) {
	out := make([]int, len(spec))
	for i, v := range spec {
		if v < 0 {
			return nil, fmt.Errorf("shape %v has a negative dimension", spec)
		}
		out[i] = int(v)
	}
	return out, nil
}

func (s *shapeInfer) tile(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	reps, err := s.ints(n, 1, "repeats")
	if err != nil {
		return err
	}
	if len(reps) != len(x) {
		return fmt.Errorf("repeats %v does not match rank %d", reps, len(x))
	}
	out := make([]int, len(x))
	// The output reads as (repeat, position) pairs per axis, the repeat
	// with stride 0.
	var pairs, st []int
	xs := denseStrides(x)
	for i, r := range reps {
		if r < 0 {
			return fmt.Errorf("repeats %v has a negative entry", reps)
		}
		out[i] = int(r) * x[i]
		pairs = append(pairs, int(r), x[i])
		st = append(st, 0, xs[i])
	}
	return s.setPicked(n, out, s.dt(n, 0), s.values(n, 0), func() []int { return stridedIndex(pairs, st, 0) })
}

func (s *shapeInfer) pad(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	pads := n.AttrInts("pads")
	if n.Input(1) != "" {
		if pads, err = s.ints(n, 1, "pads"); err != nil {
			return err
		}
	}
	axes := iota(len(x))
	if n.Input(3) != "" {
		av, err := s.ints(n, 3, "axes")
		if err != nil {
			return err
		}
		if axes, err = normAxes(av, len(x)); err != nil {
			return err
		}
	}
	if len(pads) != 2*len(axes) {
		return fmt.Errorf("pads %v needs %d entries", pads, 2*len(axes))
	}
	out := append([]int(nil), x...)
	for k, a := range axes {
		out[a] += int(pads[k] + pads[k+len(axes)])
		if out[a] < 0 {
			return fmt.Errorf("pads %v crop axis %d below zero", pads, a)
		}
	}
	s.set(n, 0, out, s.dt(n, 0))
	return nil
}
