package dataset

import (
	"fmt"
	"io"
	"math"

	"amq/onnx"
	"amq/quant"
)

// DefaultBatchSize is the batch size for a model whose batch dimension is
// dynamic, when none is given; fewer samples make one batch.
const DefaultBatchSize = 32

// Options describe the data besides its path.
type Options struct {
	// BatchSize is the number of samples per batch. 0 means the model's
	// fixed batch dimension or, when it is dynamic, DefaultBatchSize or all
	// samples when there are fewer.
	BatchSize int
	// Image is the preprocessing of image files; nil means no resize, no
	// normalization, RGB, NCHW. It is an error for data that is not images.
	Image *ImageOptions
	// Raw describes .bin files; nil means the model input's shape and type.
	// It is an error for data that is not .bin files.
	Raw *RawOptions
	// Notes receives what was decided for the user: casts, a default batch
	// size, files and samples left unused. nil discards them.
	Notes io.Writer
}

// Source is calibration data cut into batches of Size samples. Samples
// after the last full batch are not used.
type Source struct {
	Size    int // samples per batch
	Samples int // samples in the data
	data    samples
	path    string // what --data named, for messages
}

var _ quant.DataSource = (*Source)(nil)

// samples is data that yields any run of consecutive samples as model
// inputs by name.
type samples interface {
	count() int
	read(lo, hi int) (map[string]*onnx.Tensor, error)
}

// Open reads or indexes the data at path for the inputs of g and checks it
// against them (see the package documentation).
func Open(g *onnx.Graph, path string, opt Options) (_ *Source, err error) {
	if opt.BatchSize < 0 {
		return nil, fmt.Errorf("--batch-size %d: must be at least 1", opt.BatchSize)
	}
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("the model has no inputs")
	}
	notes := opt.Notes
	if notes == nil {
		notes = io.Discard
	}
	f, err := find(path, opt.Raw != nil, notes)
	if err != nil {
		return nil, err
	}
	if f.kind != imageFiles && opt.Image != nil {
		return nil, fmt.Errorf("%s: --image-size, --mean, --std, --color and --layout apply to images, and this is %s", path, f.kind)
	}
	if f.kind != rawFiles && opt.Raw != nil {
		return nil, fmt.Errorf("%s: --input-shape and --dtype apply to .bin files, and this is %s", path, f.kind)
	}
	var data samples
	switch f.kind {
	case npyFile, npzFile:
		data, err = openArrays(g, path, f.kind == npzFile, notes)
	case imageFiles:
		data, err = openImages(g, path, f.files, opt.Image)
	case rawFiles:
		data, err = openRaw(g, path, f.files, opt.Raw, notes)
	}
	if err != nil {
		return nil, err
	}
	src := &Source{data: data, path: path}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()
	n := data.count()
	if n == 0 {
		return nil, fmt.Errorf("%s: no samples", path)
	}
	size := batchSize(g, opt.BatchSize, n, notes)
	if n < size {
		return nil, fmt.Errorf("%s: %d samples, fewer than one batch of %d", path, n, size)
	}
	if d := n % size; d > 0 {
		fmt.Fprintf(notes, "note: %s: the last %d samples do not fill a batch of %d and are not used\n", path, d, size)
	}
	src.Size, src.Samples = size, n
	return src, nil
}

// batchSize is the requested size, else the model's fixed batch dimension
// (of the first input that fixes one), else DefaultBatchSize or all
// samples when fewer, said on notes.
func batchSize(g *onnx.Graph, requested, samples int, notes io.Writer) int {
	if requested > 0 {
		return requested
	}
	for _, in := range g.Inputs {
		if len(in.Shape) > 0 && in.Shape[0].Known() && in.Shape[0].Value > 0 {
			return int(in.Shape[0].Value)
		}
	}
	if samples < DefaultBatchSize {
		fmt.Fprintf(notes, "batch size %d: all samples (the model's batch dimension is dynamic; --batch-size sets it)\n", samples)
		return samples
	}
	fmt.Fprintf(notes, "batch size %d (the model's batch dimension is dynamic; --batch-size sets it)\n", DefaultBatchSize)
	return DefaultBatchSize
}

// Close releases the data's open files (a .npy or .npz is read from its
// file batch by batch). Batch fails after it.
func (s *Source) Close() error {
	if c, ok := s.data.(interface{ close() error }); ok {
		return c.close()
	}
	return nil
}

// Len is the number of full batches.
func (s *Source) Len() int { return s.Samples / s.Size }

// Dropped is the number of samples after the last full batch.
func (s *Source) Dropped() int { return s.Samples % s.Size }

// Batch returns samples [i*Size, (i+1)*Size) of every input.
func (s *Source) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i < 0 || i >= s.Len() {
		return nil, fmt.Errorf("batch %d out of range [0, %d)", i, s.Len())
	}
	lo := i * s.Size
	in, err := s.data.read(lo, lo+s.Size)
	if err != nil {
		return nil, err
	}
	for name, t := range in {
		t.Name = name
		if k, v, ok := firstNonFinite(t); ok {
			return nil, fmt.Errorf("%s: sample %d, input %q: non-finite value %v", s.path, lo+k/max(1, onnx.NumElems(t.Shape[1:])), name, v)
		}
	}
	return in, nil
}

// firstNonFinite finds the first NaN or infinity of a float tensor: its
// element index and value.
func firstNonFinite(t *onnx.Tensor) (int, float64, bool) {
	switch d := t.Data.(type) {
	case []float32:
		for k, v := range d {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return k, f, true
			}
		}
	case []float64:
		for k, v := range d {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return k, v, true
			}
		}
	}
	return 0, 0, false
}
