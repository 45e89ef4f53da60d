package onnx

import "fmt"

// Convolution and pooling: a window slides over the spatial axes (all
// after batch and channel).

func init() {
	inferAs((*shapeInfer).conv, "Conv", "ConvInteger")
	inferAs((*shapeInfer).convTranspose, "ConvTranspose")
	inferAs((*shapeInfer).pool, "MaxPool", "AveragePool", "LpPool")
	inferAs((*shapeInfer).globalPool, "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
}

func (s *shapeInfer) conv(n *Node) error {
	x, w, sp, err := s.convWindow(n, false)
	if err != nil {
		return err
	}
	dt := s.dt(n, 0)
	if n.OpType == "ConvInteger" || dt == Int8 || dt == Uint8 {
		dt = Int32 // integer convolutions accumulate in int32 (sim's deploy emulation)
	}
	s.set(n, 0, append([]int{x[0], w[0]}, sp...), dt)
	return nil
}

func (s *shapeInfer) convTranspose(n *Node) error {
	x, w, sp, err := s.convWindow(n, true)
	if err != nil {
		return err
	}
	if os := n.AttrInts("output_shape"); os != nil {
		if len(os) == len(x) {
			os = os[2:]
		}
		if len(os) != len(sp) {
			return fmt.Errorf("output_shape %v does not match %d spatial axes", os, len(sp))
		}
		for i, v := range os {
			sp[i] = int(v)
		}
	}
	dt := s.dt(n, 0)
	if dt == Int8 || dt == Uint8 {
		dt = Int32
	}
	ch := w[1] * int(n.AttrInt("group", 1))
	s.set(n, 0, append([]int{x[0], ch}, sp...), dt)
	return nil
}

// convWindow returns the shapes of the input and the weight of a
// convolution and the spatial size of its output.
func (s *shapeInfer) convWindow(n *Node, transpose bool) (x, w, spatial []int, err error) {
	if x, w, err = s.operands(n); err != nil {
		return nil, nil, nil, err
	}
	if len(x) < 3 || len(w) != len(x) {
		return nil, nil, nil, fmt.Errorf("input %v and weight %v need the same rank >= 3", x, w)
	}
	kernel := w[2:]
	if n.AttrInts("kernel_shape") != nil {
		if kernel, err = spatialAttr(n, "kernel_shape", len(x)-2, 1); err != nil {
			return nil, nil, nil, err
		}
	}
	spatial, err = windowShape(n, x[2:], kernel, transpose)
	return x, w, spatial, err
}

func (s *shapeInfer) pool(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	if len(x) < 3 {
		return fmt.Errorf("input %v has no spatial axes", x)
	}
	kernel, err := spatialAttr(n, "kernel_shape", len(x)-2, 0)
	if err != nil {
		return err
	}
	if n.AttrInts("kernel_shape") == nil {
		return fmt.Errorf("attribute kernel_shape is required")
	}
	sp, err := windowShape(n, x[2:], kernel, false)
	if err != nil {
		return err
	}
	out := append([]int{x[0], x[1]}, sp...)
	s.set(n, 0, out, s.dt(n, 0))
	s.set(n, 1, out, Int64) // MaxPool's indices
	return nil
}

// globalPool reduces every spatial axis to 1.
func (s *shapeInfer) globalPool(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	if len(x) < 2 {
		return fmt.Errorf("input shape %v has no channel axis", x)
	}
	out := append([]int(nil), x...)
	for i := 2; i < len(out); i++ {
		out[i] = 1
	}
	s.set(n, 0, out, s.dt(n, 0))
	return nil
}

// spatialAttr returns an INTS attribute of k entries, or def repeated.
func spatialAttr(n *Node, name string, k int, def int) ([]int, error) {
	v := n.AttrInts(name)
	out := make([]int, k)
	if v == nil {
		for i := range out {
			out[i] = def
		}
		return out, nil
	}
	if len(v) != k {
		return nil, fmt.Errorf("%s %v has %d entries, want %d", name, v, len(v), k)
	}
	for i, e := range v {
		out[i] = int(e)
	}
	return out, nil
}

// window holds the attributes of a sliding window over k spatial axes.
type window struct {
	strides, dilations []int
	pads               []int // k begins, then k ends
	outPad             []int // ConvTranspose's output_padding
	autoPad            string
	ceil               bool
}

func windowAttrs(n *Node, k int) (*window, error) {
	w := &window{autoPad: n.AttrString("auto_pad", "NOTSET"), ceil: n.AttrInt("ceil_mode", 0) != 0}
	var err error
	if w.strides, err = spatialAttr(n, "strides", k, 1); err != nil {
		return nil, err
	}
	if w.dilations, err = spatialAttr(n, "dilations", k, 1); err != nil {
		return nil, err
	}
	if w.pads, err = spatialAttr(n, "pads", 2*k, 0); err != nil {
		return nil, err
	}
	if w.outPad, err = spatialAttr(n, "output_padding", k, 0); err != nil {
		return nil, err
	}
	return w, nil
}

// windowShape computes the spatial output size of a convolution or pooling
// window sliding over in, following the ONNX operator definitions.
func windowShape(n *Node, in, kernel []int, transpose bool) ([]int, error) {
	k := len(kernel)
	w, err := windowAttrs(n, k)
	if err != nil {
		return nil, err
	}
	out := make([]int, k)
	for i := range k {
		if w.strides[i] < 1 || w.dilations[i] < 1 {
			return nil, fmt.Errorf("strides %v and dilations %v must be positive", w.strides, w.dilations)
		}
		if transpose {
			out[i] = w.transposedSize(i, in, kernel)
		} else if out[i], err = w.slidingSize(i, in, kernel); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// extent is the span of the dilated kernel on axis i.
func (w *window) extent(i int, kernel []int) int { return (kernel[i]-1)*w.dilations[i] + 1 }

// slidingSize is the number of window positions on axis i.
func (w *window) slidingSize(i int, in, kernel []int) (int, error) {
	k, ek, st := len(kernel), w.extent(i, kernel), w.strides[i]
	var out int
	switch w.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		out = (in[i] + st - 1) / st
	case "VALID":
		out = (in[i]-ek)/st + 1
	case "NOTSET", "":
		span := in[i] + w.pads[i] + w.pads[i+k] - ek
		if span < 0 {
			return 0, fmt.Errorf("kernel %v (dilated %d) is larger than the padded input %v", kernel, ek, in)
		}
		out = span/st + 1
		if w.ceil && span%st != 0 {
			out++
			// The last window must start inside the input or the left padding.
			if (out-1)*st >= in[i]+w.pads[i] {
				out--
			}
		}
	default:
		return 0, fmt.Errorf("auto_pad %q is not supported", w.autoPad)
	}
	return max(out, 0), nil
}

// transposedSize is the output size of ConvTranspose on axis i.
func (w *window) transposedSize(i int, in, kernel []int) int {
	switch w.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		return in[i] * w.strides[i]
	}
	k := len(kernel)
	return w.strides[i]*(in[i]-1) + w.outPad[i] + w.extent(i, kernel) - w.pads[i] - w.pads[i+k]
}
