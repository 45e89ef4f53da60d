package dataset

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"amq/onnx"
)

// RawOptions describe raw .bin files (the --input-shape and --dtype
// flags): little-endian elements in row-major order, as numpy's tofile
// and AMCT's and msame's tools write them.
type RawOptions struct {
	// Shape is one sample's shape, or the input's with its batch
	// dimension first (AMCT's --input_shape); nil means the model
	// input's, which must then be fixed but for the batch dimension.
	Shape []int
	// DType is the files' element type; Undefined means the model
	// input's.
	DType onnx.DataType
}

// rawSamples are .bin files of whole samples, read per batch.
type rawSamples struct {
	files  []string
	start  []int // start[i]: the first sample of files[i]; start[len(files)]: the count
	sample []int // one sample's shape
	from   onnx.DataType
	to     onnx.DataType // the input's
	input  string
}

// openRaw checks that every file holds whole samples of the model's single
// input, from the files' sizes; values are read, cast and checked batch by
// batch.
func openRaw(g *onnx.Graph, path string, files []string, opt *RawOptions, notes io.Writer) (*rawSamples, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("%s: the model has %d inputs and .bin files feed one: give a .npz with one array per input", path, len(g.Inputs))
	}
	in := g.Inputs[0]
	if opt == nil {
		opt = &RawOptions{}
	}
	s := &rawSamples{files: files, from: opt.DType, to: in.DType, input: in.Name}
	if s.from == onnx.Undefined {
		s.from = in.DType
	}
	if s.from.Size() == 0 {
		return nil, fmt.Errorf("%s: give --dtype: input %q's type %s has no raw layout", path, in.Name, typeName(in.DType))
	}
	if s.to != onnx.Undefined {
		if err := castable(s.from, s.to); err != nil {
			return nil, fmt.Errorf("%s: --dtype %s: %w (input %q)", path, typeName(s.from), err, in.Name)
		}
	}
	var err error
	if s.sample, err = sampleShape(in, opt.Shape); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := fitShape(in, append([]int{1}, s.sample...)); err != nil {
		return nil, fmt.Errorf("%s: --input-shape %v: %w", path, opt.Shape, err)
	}
	per := int64(onnx.NumElems(s.sample) * s.from.Size())
	if per == 0 {
		return nil, fmt.Errorf("%s: a sample of shape %v is empty", path, s.sample)
	}
	s.start = make([]int, 1, len(files)+1)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if st.Size() == 0 {
			return nil, fmt.Errorf("%s: the file is empty", f)
		}
		if n := st.Size(); n%per != 0 {
			return nil, fmt.Errorf("%s: %d bytes, not a multiple of %d, the size of one sample (%s %v): check --input-shape and --dtype",
				f, n, per, typeName(s.from), s.sample)
		}
		s.start = append(s.start, s.start[len(s.start)-1]+int(st.Size()/per))
	}
	fmt.Fprint(notes, castNote(path, s.from, s.to, in.Name))
	return s, nil
}

// sampleShape is one sample's shape: shape without its batch dimension
// when it has the input's rank, shape itself when it has one less, the
// input's fixed dimensions when shape is nil.
func sampleShape(in *onnx.ValueInfo, shape []int) ([]int, error) {
	if shape == nil {
		if len(in.Shape) > 0 {
			if dims, ok := (&onnx.ValueInfo{Shape: in.Shape[1:]}).Dims(); ok {
				return dims, nil
			}
		}
		return nil, fmt.Errorf("give --input-shape: input %q has shape %s", in.Name, dimsString(in.Shape))
	}
	for _, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("--input-shape %v: every dimension must be at least 1", shape)
		}
	}
	if in.Shape == nil || len(shape) == len(in.Shape) {
		return slices.Clone(shape[min(1, len(shape)):]), nil
	}
	if len(shape) == len(in.Shape)-1 {
		return slices.Clone(shape), nil
	}
	return nil, fmt.Errorf("--input-shape %v has rank %d; input %q of shape %s takes one sample's shape (rank %d) or that with the batch dimension first",
		shape, len(shape), in.Name, dimsString(in.Shape), len(in.Shape)-1)
}

func (s *rawSamples) count() int { return s.start[len(s.start)-1] }

// read reads samples [lo, hi) from their files and casts them to the
// input's type.
func (s *rawSamples) read(lo, hi int) (map[string]*onnx.Tensor, error) {
	per := onnx.NumElems(s.sample) * s.from.Size()
	buf := make([]byte, (hi-lo)*per)
	for k := lo; k < hi; {
		f := s.fileOf(k)
		end := min(hi, s.start[f+1])
		if err := readAt(s.files[f], buf[(k-lo)*per:(end-lo)*per], int64(k-s.start[f])*int64(per)); err != nil {
			return nil, err
		}
		k = end
	}
	t, err := onnx.TensorFromRaw(s.from, append([]int{hi - lo}, s.sample...), buf)
	if err != nil {
		return nil, err
	}
	where := func(k int) string {
		f := s.fileOf(lo + k)
		return fmt.Sprintf("%s: sample %d", s.files[f], lo+k-s.start[f])
	}
	if t, err = castSamples(t, s.to, s.input, where); err != nil {
		return nil, err
	}
	return map[string]*onnx.Tensor{s.input: t}, nil
}

// fileOf is the index of the file that holds sample k.
func (s *rawSamples) fileOf(k int) int {
	return sort.SearchInts(s.start, k+1) - 1
}

// readAt fills buf from file at offset off.
func readAt(file string, buf []byte, off int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
