package opset

import (
	"fmt"

	"amq/onnx"
)

// Operators whose constant attributes became inputs: Clip (opset 11),
// Slice (10), Pad (11), TopK (10).

// clip: Clip-6 bounds min and max (attributes, absent = no bound) become
// Clip-11's optional scalar inputs of the input's element type.
func clip(u *upgrader, n *onnx.Node) error {
	if len(n.Inputs) != 1 {
		return fmt.Errorf("has %d inputs; Clip-6 takes 1", len(n.Inputs))
	}
	in := []string{n.Inputs[0], "", ""}
	for i, name := range []string{"min", "max"} {
		a, err := attrOf(n, name, onnx.AttrFloat)
		if err != nil {
			return err
		}
		if a == nil {
			continue
		}
		dt, err := u.elemType(n.Inputs[0])
		if err != nil {
			return err
		}
		if in[i+1], err = u.scalar(n, name, dt, a.F); err != nil {
			return err
		}
	}
	delete(n.Attrs, "min")
	delete(n.Attrs, "max")
	n.Inputs = trimInputs(in)
	return nil
}

// slice1: Slice-1's starts, ends and axes (attributes) become int64
// inputs; the clamping of out-of-range values is the same in Slice-10.
func slice1(u *upgrader, n *onnx.Node) error {
	if len(n.Inputs) != 1 {
		return fmt.Errorf("has %d inputs; Slice-1 takes 1", len(n.Inputs))
	}
	var v [3]*onnx.Attr
	for i, name := range []string{"starts", "ends", "axes"} {
		a, err := attrOf(n, name, onnx.AttrInts)
		if err != nil {
			return err
		}
		v[i] = a
	}
	starts, ends, axes := v[0], v[1], v[2]
	switch {
	case starts == nil || ends == nil:
		return fmt.Errorf("needs the attributes starts and ends")
	case len(starts.Ints) != len(ends.Ints):
		return fmt.Errorf("has %d starts and %d ends", len(starts.Ints), len(ends.Ints))
	case axes != nil && len(axes.Ints) != len(starts.Ints):
		return fmt.Errorf("has %d axes for %d starts", len(axes.Ints), len(starts.Ints))
	}
	in := []string{n.Inputs[0], u.int64s(n, "starts", starts.Ints), u.int64s(n, "ends", ends.Ints)}
	if axes != nil {
		in = append(in, u.int64s(n, "axes", axes.Ints))
	}
	for _, name := range []string{"starts", "ends", "axes"} {
		delete(n.Attrs, name)
	}
	n.Inputs = in
	return nil
}

// pad: Pad-2's pads (attribute) becomes an int64 input and its fill value
// the constant_value input, which is left out when it is 0 (the default of
// both) or the mode does not use it. mode stays an attribute.
func pad(u *upgrader, n *onnx.Node) error {
	if len(n.Inputs) != 1 {
		return fmt.Errorf("has %d inputs; Pad-2 takes 1", len(n.Inputs))
	}
	pads, err := requiredAttr(n, "pads", onnx.AttrInts)
	if err != nil {
		return err
	}
	value, err := attrOf(n, "value", onnx.AttrFloat)
	if err != nil {
		return err
	}
	in := []string{n.Inputs[0], u.int64s(n, "pads", pads.Ints)}
	if value != nil && value.F != 0 && n.AttrString("mode", "constant") == "constant" {
		dt, err := u.elemType(n.Inputs[0])
		if err != nil {
			return err
		}
		c, err := u.scalar(n, "constant_value", dt, value.F)
		if err != nil {
			return err
		}
		in = append(in, c)
	}
	delete(n.Attrs, "pads")
	delete(n.Attrs, "value")
	n.Inputs = in
	return nil
}

// topK1: TopK-1's k (attribute) becomes the int64 input K of shape [1].
// The attributes largest and sorted of TopK-11 default to TopK-1's only
// behaviour.
func topK1(u *upgrader, n *onnx.Node) error {
	if len(n.Inputs) != 1 {
		return fmt.Errorf("has %d inputs; TopK-1 takes 1", len(n.Inputs))
	}
	k, err := requiredAttr(n, "k", onnx.AttrInt)
	if err != nil {
		return err
	}
	n.Inputs = []string{n.Inputs[0], u.int64s(n, "K", []int64{k.I})}
	delete(n.Attrs, "k")
	return nil
}
