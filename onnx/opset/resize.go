package opset

import (
	"fmt"

	"amq/onnx"
)

// Upsample (opsets 7 and 9, deprecated in 10) and Resize-10 become
// Resize-11: inputs X, roi, scales. roi only matters for the
// tf_crop_and_resize coordinates, so it is an empty constant. The old
// operators map output coordinates to input ones as x_in = x_out / scale,
// Resize-11's coordinate_transformation_mode "asymmetric"; the default,
// half_pixel, would shift every sample.

// upsample: Upsample-7 (scales attribute) and Upsample-9 (scales input).
// Upsample only enlarges (every scale >= 1), and its nearest mode takes
// floor(x_in), as ONNX's version converter and ONNX Runtime do; torch
// exports the same nearest upsampling at opset 11 and later with
// nearest_mode floor.
func upsample(u *upgrader, n *onnx.Node) error {
	mode := n.AttrString("mode", "nearest")
	if mode != "nearest" && mode != "linear" {
		return fmt.Errorf("mode %q: Upsample has nearest and linear", mode)
	}
	var scales string
	if u.from < 9 {
		if len(n.Inputs) != 1 {
			return fmt.Errorf("has %d inputs; Upsample-7 takes 1", len(n.Inputs))
		}
		a, err := requiredAttr(n, "scales", onnx.AttrFloats)
		if err != nil {
			return err
		}
		scales = u.constant(n, "scales", onnx.NewTensor([]int{len(a.Floats)}, append([]float32(nil), a.Floats...)))
		delete(n.Attrs, "scales")
	} else {
		if len(n.Inputs) != 2 || n.Inputs[1] == "" {
			return fmt.Errorf("has %d inputs; Upsample-9 takes X and scales", len(n.Inputs))
		}
		scales = n.Inputs[1]
	}
	if s, ok := u.constFloats(scales); ok {
		for _, v := range s {
			if !(v >= 1) {
				return fmt.Errorf("scales %v: Upsample takes scales of at least 1", s)
			}
		}
	}
	n.OpType = "Resize"
	n.Inputs = []string{n.Inputs[0], u.emptyROI(n), scales}
	setResizeCoordinates(n, mode, "floor")
	return nil
}

// resize10: Resize-10 takes X and scales. ONNX Runtime, the reference for
// opset-10 models, rounds a nearest sample down on an axis whose scale is
// at least 1 and up on an axis whose scale is below 1; Resize-11 has one
// nearest_mode for all axes, so the scales must be constant and all on one
// side of 1 (axes of scale exactly 1 fit either rounding).
func resize10(u *upgrader, n *onnx.Node) error {
	mode := n.AttrString("mode", "nearest")
	if mode != "nearest" && mode != "linear" {
		return fmt.Errorf("mode %q: Resize-10 has nearest and linear", mode)
	}
	if len(n.Inputs) != 2 || n.Inputs[1] == "" {
		return fmt.Errorf("has %d inputs; Resize-10 takes X and scales", len(n.Inputs))
	}
	scales := n.Inputs[1]
	rounding := ""
	if mode == "nearest" {
		s, ok := u.constFloats(scales)
		if !ok {
			return fmt.Errorf("scales %q are computed at run time, and the nearest rounding of Resize-10 depends on whether each scale is below 1", scales)
		}
		up, down := false, false
		for _, v := range s {
			up = up || v > 1
			down = down || v < 1
		}
		if up && down {
			return fmt.Errorf("scales %v enlarge some axes and shrink others, which Resize-10 rounds differently (no single nearest_mode of Resize-11 does both)", s)
		}
		rounding = "floor"
		if down {
			rounding = "ceil"
		}
	}
	n.Inputs = []string{n.Inputs[0], u.emptyROI(n), scales}
	setResizeCoordinates(n, mode, rounding)
	return nil
}

// setResizeCoordinates gives a Resize-11 node the mode, asymmetric
// coordinates and, for nearest, the rounding.
func setResizeCoordinates(n *onnx.Node, mode, nearest string) {
	n.SetAttr("mode", mode)
	n.SetAttr("coordinate_transformation_mode", "asymmetric")
	if mode == "nearest" {
		n.SetAttr("nearest_mode", nearest)
	}
}

// emptyROI adds the empty float roi input of a Resize-11 node.
func (u *upgrader) emptyROI(n *onnx.Node) string {
	return u.constant(n, "roi", onnx.NewTensor([]int{0}, []float32{}))
}

// constFloats returns the values of a constant float tensor.
func (u *upgrader) constFloats(name string) ([]float64, bool) {
	t, ok := u.g.Constant(name)
	if !ok {
		return nil, false
	}
	switch t.DType {
	case onnx.Float, onnx.Float16, onnx.Double:
		v, err := t.Float64s()
		return v, err == nil
	}
	return nil, false
}
