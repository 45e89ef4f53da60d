package dataset

import (
	"errors"
	"fmt"
	"strings"

	"amq/onnx"
)

// fitShape checks that data of shape (samples on axis 0) fits input in:
// the input's rank, and its size in every dimension the model fixes but
// the batch one. An input of unknown rank takes any shape.
func fitShape(in *onnx.ValueInfo, shape []int) error {
	if in.Shape == nil {
		return nil
	}
	if len(shape) != len(in.Shape) {
		hint := ""
		if len(shape) == len(in.Shape)-1 {
			hint = " (samples go on axis 0: a single sample needs a leading axis of 1)"
		}
		return fmt.Errorf("shape %v does not fit input %q of shape %s: rank %d, the input's is %d%s",
			shape, in.Name, dimsString(in.Shape), len(shape), len(in.Shape), hint)
	}
	for i := 1; i < len(shape); i++ {
		if d := in.Shape[i]; d.Known() && int64(shape[i]) != d.Value {
			return fmt.Errorf("shape %v does not fit input %q of shape %s: dimension %d is %d, the model's is %d",
				shape, in.Name, dimsString(in.Shape), i, shape[i], d.Value)
		}
	}
	return nil
}

// dimsString shows a model input's shape, such as [batch 3 224 224].
func dimsString(dims []onnx.Dim) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = d.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// castSamples casts t (samples on axis 0) to type to for input; a value
// that does not survive the cast is named by where, given its sample.
func castSamples(t *onnx.Tensor, to onnx.DataType, input string, where func(sample int) string) (*onnx.Tensor, error) {
	out, err := cast(t, to)
	var ve *valueError
	switch {
	case errors.As(err, &ve):
		per := max(1, onnx.NumElems(t.Shape[1:]))
		return nil, fmt.Errorf("%s: %w for input %q", where(ve.index/per), err, input)
	case err != nil:
		return nil, fmt.Errorf("input %q: %w", input, err)
	}
	return out, nil
}
