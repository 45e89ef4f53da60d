package onnx

import (
	"fmt"
	"math"
)

func init() {
	inferAs((*shapeInfer).resize, "Resize", "Upsample")
}

// resize: the output size of each resized axis comes from the sizes input
// when it is given, else from the scales.
func (s *shapeInfer) resize(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	scalesIn, sizesIn := 2, 3
	if n.OpType == "Upsample" || len(n.Inputs) == 2 {
		scalesIn, sizesIn = 1, -1 // opset 10 Resize and Upsample: (X, scales)
	}
	axes := iota(len(x))
	if av := n.AttrInts("axes"); av != nil {
		if axes, err = normAxes(av, len(x)); err != nil {
			return err
		}
	}
	var out []int
	sizes, hasSizes := s.val(n, sizesIn)
	switch {
	case hasSizes && sizes.Len() > 0:
		out, err = resizeToSizes(n, x, axes, sizes)
	case sizesIn >= 0 && n.Input(sizesIn) != "" && !hasSizes:
		err = fmt.Errorf("sizes (%q) is computed from data at run time; its value is needed for the output shape", n.Input(sizesIn))
	default:
		out, err = s.resizeByScales(n, x, axes, scalesIn)
	}
	if err != nil {
		return err
	}
	s.set(n, 0, out, s.dt(n, 0))
	return nil
}

// resizeToSizes applies the sizes input, under keep_aspect_ratio_policy.
func resizeToSizes(n *Node, x, axes []int, sizes *Tensor) ([]int, error) {
	sz, err := sizes.AsInt64s("sizes")
	if err != nil {
		return nil, err
	}
	if len(sz) != len(axes) {
		return nil, fmt.Errorf("sizes %v has %d entries for %d axes", sz, len(sz), len(axes))
	}
	out := append([]int(nil), x...)
	policy := n.AttrString("keep_aspect_ratio_policy", "stretch")
	if policy == "stretch" {
		for k, a := range axes {
			out[a] = int(sz[k])
		}
		return out, nil
	}
	sc := math.NaN()
	for k, a := range axes {
		r := float64(sz[k]) / float64(x[a])
		if math.IsNaN(sc) || (policy == "not_larger" && r < sc) || (policy == "not_smaller" && r > sc) {
			sc = r
		}
	}
	for _, a := range axes {
		out[a] = int(math.Floor(float64(sc*float64(x[a])) + 0.5)) // float64(): as sim's Resize, no FMA
	}
	return out, nil
}

// resizeByScales applies the scales input (input i).
func (s *shapeInfer) resizeByScales(n *Node, x, axes []int, i int) ([]int, error) {
	scales, ok := s.val(n, i)
	if !ok {
		return nil, fmt.Errorf("scales (%q) is not known before running the graph", n.Input(i))
	}
	f, ok := numbers(scales)
	if !ok || len(f) != len(axes) {
		return nil, fmt.Errorf("scales %v does not give one float per axis", scales.Shape)
	}
	out := append([]int(nil), x...)
	for k, a := range axes {
		out[a] = int(f[k] * float64(x[a]))
	}
	return out, nil
}
