package quant

import (
	"fmt"
	"maps"
	"slices"

	"amq/onnx"
)

// DataSource provides calibration batches. Batches are produced on demand,
// so calibration never holds more than the batches in flight. Calibration
// calls Batch from one goroutine, in increasing order, even when a
// Concurrent backend runs several batches at once, so a source need not be
// safe for concurrent use.
type DataSource interface {
	// Len is the number of batches available.
	Len() int
	// Batch returns batch i (0 <= i < Len()) as graph inputs by name.
	Batch(i int) (map[string]*onnx.Tensor, error)
}

// firstBatches is the first n batches of a data source.
type firstBatches struct {
	DataSource
	n int
}

func (f firstBatches) Len() int { return min(f.n, f.DataSource.Len()) }

// progressSource reports every batch handed out to a progress callback.
// Batches are requested in order, so the count is the batch index + 1.
type progressSource struct {
	DataSource
	step string
	fn   func(step string, done, total int)
}

func (p progressSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	in, err := p.DataSource.Batch(i)
	if err == nil && p.fn != nil {
		p.fn(p.step, i+1, p.Len())
	}
	return in, err
}

// TensorSource is a DataSource over whole arrays of samples (one per graph
// input, samples on axis 0), cut into batches of Size samples without
// copying. Samples that do not fill a last batch are not used.
type TensorSource struct {
	Inputs map[string]*onnx.Tensor // graph input name -> all its samples
	Size   int                     // samples per batch
}

// NewTensorSource checks that every input has the same number of samples,
// at least size.
func NewTensorSource(inputs map[string]*onnx.Tensor, size int) (*TensorSource, error) {
	if size < 1 {
		return nil, fmt.Errorf("batch size %d: must be at least 1", size)
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	samples := -1
	// In name order, so that an error names the same input every time.
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		t := inputs[name]
		if t == nil {
			return nil, fmt.Errorf("input %q: nil tensor", name)
		}
		if t.Rank() == 0 {
			return nil, fmt.Errorf("input %q: a scalar has no sample axis", name)
		}
		// Batch slices the data by the shape: they must agree.
		if n, ok := t.DataLen(); n != t.Len() || !ok {
			return nil, fmt.Errorf("input %q: shape %v (%d values) but %d values of %T for %v", name, t.Shape, t.Len(), n, t.Data, t.DType)
		}
		if samples >= 0 && t.Shape[0] != samples {
			return nil, fmt.Errorf("input %q has %d samples, another input %d", name, t.Shape[0], samples)
		}
		samples = t.Shape[0]
	}
	if samples < size {
		return nil, fmt.Errorf("%d samples, fewer than one batch of %d", samples, size)
	}
	return &TensorSource{Inputs: inputs, Size: size}, nil
}

// Dropped is the number of samples after the last full batch, which no
// batch uses.
func (s *TensorSource) Dropped() int {
	for _, t := range s.Inputs {
		return t.Shape[0] % s.Size
	}
	return 0
}

// Len is the number of full batches.
func (s *TensorSource) Len() int {
	for _, t := range s.Inputs {
		return t.Shape[0] / s.Size
	}
	return 0
}

// Batch returns samples [i*Size, (i+1)*Size) of every input.
func (s *TensorSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i < 0 || i >= s.Len() {
		return nil, fmt.Errorf("batch %d out of range [0, %d)", i, s.Len())
	}
	out := make(map[string]*onnx.Tensor, len(s.Inputs))
	for name, t := range s.Inputs {
		sl, err := t.Rows(i*s.Size, (i+1)*s.Size)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		sl.Name = name
		out[name] = sl
	}
	return out, nil
}
