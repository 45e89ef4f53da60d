package dataset

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"amq/npy"
	"amq/onnx"
)

// arraySamples are whole arrays in memory, one per input, cast to the
// inputs' types; batches are slices of them.
type arraySamples struct {
	inputs map[string]*onnx.Tensor
	n      int
}

// openArrays reads a .npy (for a single-input model) or a .npz (an array
// per input, by name; other arrays are not used) and fits every array to
// its input.
func openArrays(g *onnx.Graph, path string, npz bool, notes io.Writer) (*arraySamples, error) {
	arrays := map[string]*onnx.Tensor{}
	if !npz {
		if len(g.Inputs) != 1 {
			return nil, fmt.Errorf("the model has %d inputs: give --data as a .npz with one array per input", len(g.Inputs))
		}
		t, err := npy.ReadFile(path)
		if err != nil {
			return nil, err
		}
		arrays[g.Inputs[0].Name] = t
	} else {
		all, err := npy.ReadNPZFile(path)
		if err != nil {
			return nil, err
		}
		for _, in := range g.Inputs {
			t, ok := all[in.Name]
			if !ok {
				return nil, fmt.Errorf("%s has no array for model input %q", path, in.Name)
			}
			arrays[in.Name] = t
		}
	}
	s := &arraySamples{inputs: arrays, n: -1}
	for _, in := range g.Inputs {
		t := arrays[in.Name]
		if t.Rank() == 0 {
			return nil, fmt.Errorf("%s: input %q: a scalar has no sample axis", path, in.Name)
		}
		if err := fitShape(in, t.Shape); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c, err := castSamples(t, in.DType, in.Name, func(k int) string { return fmt.Sprintf("sample %d", k) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprint(notes, castNote(path, t.DType, in.DType, in.Name))
		arrays[in.Name] = c
	}
	// In name order, so that an error names the same inputs every time.
	for _, name := range slices.Sorted(maps.Keys(arrays)) {
		t := arrays[name]
		if s.n >= 0 && t.Shape[0] != s.n {
			return nil, fmt.Errorf("%s: input %q has %d samples, another input %d", path, name, t.Shape[0], s.n)
		}
		s.n = t.Shape[0]
	}
	return s, nil
}

func (s *arraySamples) count() int { return s.n }

// read slices samples [lo, hi) of every input without copying.
func (s *arraySamples) read(lo, hi int) (map[string]*onnx.Tensor, error) {
	out := make(map[string]*onnx.Tensor, len(s.inputs))
	for name, t := range s.inputs {
		r, err := t.Rows(lo, hi)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}
