package quant

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"amq/onnx"
)

// Bounds of a reservoir, per observed tensor: at most reservoirRows rows
// and reservoirValues values (4 MiB), whichever is smaller, but one row at
// least; with many tensors, reservoirTotal values (256 MiB) shared out.
const (
	reservoirRows   = 2048
	reservoirValues = 1 << 20
	reservoirTotal  = 1 << 26
)

// reservoir keeps a uniform random sample of bounded size of the rows of
// a tensor seen over any number of batches (Algorithm R): the first
// `limit` rows, then row k (0-based) replaces a random kept row with
// probability limit/(k+1). Its generator is seeded from the tensor's name,
// and rows are offered one at a time in data order, so the sample depends
// on the rows and their order only, not on how they were cut into batches;
// with no more rows than the limit it holds all of them, in order.
//
// A row is what the α search runs a layer on: for Gemm/MatMul one vector
// of the last axis, for a convolution one whole sample (axis 0), so that
// padding and strides act as in the model. The memory, limit·width
// values, is allocated with the first row, so it does not depend on the
// number of batches either.
type reservoir struct {
	samples bool // rows are samples on axis 0, else vectors of the last axis
	// maxRows and maxValues bound limit (reservoirRows, reservoirValues).
	maxRows, maxValues int

	shape []int // the shape of one row
	width int   // values per row
	limit int   // rows kept at most
	data  []float32
	n     int   // rows kept
	seen  int64 // rows offered
	rng   *rand.Rand
}

// newReservoir returns an empty reservoir for the named tensor, one of
// tensors reservoirs that share reservoirTotal; samples says what a row is
// (see reservoir).
func newReservoir(tensor string, samples bool, tensors int) *reservoir {
	h := fnv.New64a()
	h.Write([]byte(tensor))
	return &reservoir{samples: samples, maxRows: reservoirRows, maxValues: min(reservoirValues, reservoirTotal/max(1, tensors)),
		rng: rand.New(rand.NewPCG(0x616d712d616c7068, h.Sum64()))}
}

// Observe offers every row of t.
func (r *reservoir) Observe(t *onnx.Tensor) error {
	x, err := onnx.Data[float32](t)
	if err != nil {
		return err
	}
	var shape []int
	switch {
	case r.samples && t.Rank() >= 2:
		shape = t.Shape[1:]
	case !r.samples && t.Rank() >= 1:
		shape = t.Shape[t.Rank()-1:]
	default:
		return fmt.Errorf("tensor %q of shape %v has no rows", t.Name, t.Shape)
	}
	if r.shape == nil {
		r.shape = slices.Clone(shape)
		r.width = max(1, onnx.NumElems(shape))
		r.limit = max(1, min(r.maxRows, r.maxValues/r.width))
		r.data = make([]float32, r.limit*r.width)
	} else if !slices.Equal(shape, r.shape) {
		return fmt.Errorf("tensor %q: rows of shape %v, earlier batches had %v; the α search needs one shape", t.Name, shape, r.shape)
	}
	w := r.width
	for i := 0; i+w <= len(x); i += w {
		r.offer(x[i : i+w])
	}
	return nil
}

// offer adds one row under Algorithm R.
func (r *reservoir) offer(row []float32) {
	k := r.n
	if r.n == r.limit {
		k = int(r.rng.Int64N(r.seen + 1))
	} else {
		r.n++
	}
	if k < r.limit {
		copy(r.data[k*r.width:], row)
	}
	r.seen++
}

// rows returns kept rows [lo, hi) as one tensor (rows on axis 0), sharing
// the reservoir's memory.
func (r *reservoir) rows(lo, hi int) *onnx.Tensor {
	return onnx.NewTensor(append([]int{hi - lo}, r.shape...), r.data[lo*r.width:hi*r.width])
}
