package dataset

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"amq/npy"
	"amq/onnx"
)

// arraySamples are arrays in a .npy or .npz file, one per input, read and
// cast to the inputs' types batch by batch: memory holds a batch, not the
// file, which may be larger than memory.
type arraySamples struct {
	inputs map[string]*npy.Array
	names  []string                 // of inputs, sorted: the order they are read in
	to     map[string]onnx.DataType // the inputs' types
	n      int
	path   string // for messages
	closer io.Closer
}

// openArrays opens a .npy (for a single-input model) or a .npz (an array
// per input, by name; other arrays are not used) and checks every array's
// shape and type against its input from its header. Values are checked as
// each batch is read (Source.Batch).
func openArrays(g *onnx.Graph, path string, npz bool, notes io.Writer) (_ *arraySamples, err error) {
	s := &arraySamples{inputs: map[string]*npy.Array{}, to: map[string]onnx.DataType{}, n: -1, path: path}
	if !npz {
		if len(g.Inputs) != 1 {
			return nil, fmt.Errorf("the model has %d inputs: give --data as a .npz with one array per input", len(g.Inputs))
		}
		f, err := npy.Open(path)
		if err != nil {
			return nil, err
		}
		s.inputs[g.Inputs[0].Name], s.closer = f.Array, f
	} else {
		z, err := npy.OpenNPZ(path)
		if err != nil {
			return nil, err
		}
		s.closer = z
		for _, in := range g.Inputs {
			a, ok := z.Arrays[in.Name]
			if !ok {
				z.Close()
				return nil, fmt.Errorf("%s has no array for model input %q", path, in.Name)
			}
			s.inputs[in.Name] = a
		}
	}
	defer func() {
		if err != nil {
			s.closer.Close()
		}
	}()
	for _, in := range g.Inputs {
		a := s.inputs[in.Name]
		if len(a.Shape) == 0 {
			return nil, fmt.Errorf("%s: input %q: a scalar has no sample axis", path, in.Name)
		}
		if err := fitShape(in, a.Shape); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if in.DType != onnx.Undefined {
			if err := castable(a.DType, in.DType); err != nil {
				return nil, fmt.Errorf("%s: input %q: %w", path, in.Name, err)
			}
		}
		fmt.Fprint(notes, castNote(path, a.DType, in.DType, in.Name))
		s.to[in.Name] = in.DType
	}
	// In name order, so that an error names the same inputs every time.
	s.names = slices.Sorted(maps.Keys(s.inputs))
	for _, name := range s.names {
		a := s.inputs[name]
		if s.n >= 0 && a.Shape[0] != s.n {
			return nil, fmt.Errorf("%s: input %q has %d samples, another input %d", path, name, a.Shape[0], s.n)
		}
		s.n = a.Shape[0]
	}
	return s, nil
}

func (s *arraySamples) count() int { return s.n }

// read reads samples [lo, hi) of every input and casts them to the input's
// type, checking every value.
func (s *arraySamples) read(lo, hi int) (map[string]*onnx.Tensor, error) {
	out := make(map[string]*onnx.Tensor, len(s.inputs))
	for _, name := range s.names {
		t, err := s.inputs[name].Rows(lo, hi)
		if err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", s.path, name, err)
		}
		c, err := castSamples(t, s.to[name], name, func(k int) string { return fmt.Sprintf("%s: sample %d", s.path, lo+k) })
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

// close closes the file.
func (s *arraySamples) close() error { return s.closer.Close() }
