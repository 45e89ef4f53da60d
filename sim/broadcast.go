package sim

import (
	"fmt"
	"slices"

	"amq/onnx"
)

// elemGrain is the number of elements below which splitting elementwise work
// across goroutines costs more than it saves.
const elemGrain = 1 << 14

func shapeList(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(sh)
	}
	return s
}

// broadcast maps k input tensors onto their numpy-broadcast output and
// walks the output in rows: runs of contiguous output elements along which
// every input either advances by one element or repeats a single element.
//
// Dimensions of size 1 are dropped and adjacent dimensions that every input
// walks contiguously are merged, so the common cases need no index
// arithmetic per element: same shapes give one row covering the whole
// output; a scalar input repeats in every row; a bias [C] on [N,C] or
// [1,C,1,1] on [N,C,H,W] gives rows of C (resp. H*W) elements with the
// bias contiguous (resp. repeated). Kernels therefore take, per row, an
// output slice of n elements and input slices of n or 1 elements.
type broadcast struct {
	shape []int // output shape
	size  int   // number of output elements
	// dims is the coalesced iteration space, outermost first; the last
	// dimension is the row.
	dims []int
	// strides[i][d] is input i's element stride along dims[d], 0 where it
	// is broadcast.
	strides [][]int
	// inc[i] reports whether input i advances along a row; when false,
	// each row reads one element of it.
	inc []bool
}

// newBroadcast plans the broadcast of the given input shapes.
func newBroadcast(shapes ...[]int) (*broadcast, error) {
	out, err := onnx.BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	k := len(shapes)
	b := &broadcast{shape: out, size: onnx.NumElems(out), strides: make([][]int, k), inc: make([]bool, k)}
	// Strides of each input in the output's index space, size-1 output
	// dimensions dropped.
	var dims []int
	full := make([][]int, k)
	for d, n := range out {
		if n == 1 {
			continue
		}
		dims = append(dims, n)
		for i, s := range shapes {
			off := len(out) - len(s)
			st := 0
			if d >= off && s[d-off] != 1 {
				st = onnx.NumElems(s[d-off+1:])
			}
			full[i] = append(full[i], st)
		}
	}
	// Merge dimension d into d+1 when every input walks both as one.
	var cd []int
	cs := make([][]int, k)
	for d := range dims {
		if len(cd) > 0 {
			last := len(cd) - 1
			merge := true
			for i := range k {
				if cs[i][last] != full[i][d]*dims[d] {
					merge = false
					break
				}
			}
			if merge {
				cd[last] *= dims[d]
				for i := range k {
					cs[i][last] = full[i][d]
				}
				continue
			}
		}
		cd = append(cd, dims[d])
		for i := range k {
			cs[i] = append(cs[i], full[i][d])
		}
	}
	if len(cd) == 0 { // every dimension is 1: one row of one element
		cd = []int{1}
		for i := range k {
			cs[i] = []int{0}
		}
	}
	b.dims = cd
	b.strides = cs
	for i := range k {
		b.inc[i] = cs[i][len(cd)-1] != 0
	}
	return b, nil
}

// rowLen is the number of elements in one row.
func (b *broadcast) rowLen() int { return b.dims[len(b.dims)-1] }

// each calls fn(out, n, off) for consecutive runs of the output: out is the
// offset of the run's first output element, n its length, and off[i] the
// offset in input i of the element that the run's first element reads. The
// runs cover the output exactly once. fn runs concurrently on up to threads
// goroutines, each with its own off slice, which fn must not keep. Long
// rows are split so that even a single row uses every thread.
func (b *broadcast) each(threads int, fn func(out, n int, off []int)) {
	if b.size == 0 {
		return
	}
	row := b.rowLen()
	nrows := b.size / row
	pieces := 1
	if nrows < threads && row >= 2*elemGrain {
		pieces = min((threads+nrows-1)/nrows, row/elemGrain)
	}
	seg := (row + pieces - 1) / pieces
	nseg := nrows * pieces
	k := len(b.inc)
	outer := b.dims[:len(b.dims)-1]
	parallelFor(threads, nseg, max(1, elemGrain/seg), func(lo, hi int) {
		off := make([]int, k)
		base := make([]int, k) // input offsets of the current row's start
		idx := make([]int, len(outer))
		r := lo / pieces
		// Position the odometer at row r.
		for d, q := len(outer)-1, r; d >= 0; d-- {
			idx[d] = q % outer[d]
			q /= outer[d]
			for i := range k {
				base[i] += idx[d] * b.strides[i][d]
			}
		}
		for s := lo; s < hi; s++ {
			if s/pieces != r { // next row: advance the odometer
				r++
				for d := len(outer) - 1; d >= 0; d-- {
					idx[d]++
					for i := range k {
						base[i] += b.strides[i][d]
					}
					if idx[d] < outer[d] {
						break
					}
					idx[d] = 0
					for i := range k {
						base[i] -= outer[d] * b.strides[i][d]
					}
				}
			}
			start := (s % pieces) * seg
			n := min(seg, row-start)
			for i := range k {
				off[i] = base[i]
				if b.inc[i] {
					off[i] += start
				}
			}
			fn(r*row+start, n, off)
		}
	})
}

// rowSlice returns the part of data that a run of n elements at offset off
// reads: n elements when the input advances along rows, else one.
func rowSlice[T any](data []T, off, n int, inc bool) []T {
	if inc {
		return data[off : off+n]
	}
	return data[off : off+1]
}

// broadcastTo returns src, of shape from, expanded to shape to under
// unidirectional broadcasting (to must be the broadcast of from and to).
// It returns src itself when no expansion is needed; callers treat both as
// read-only.
func broadcastTo[T any](threads int, src []T, from, to []int) ([]T, error) {
	b, err := newBroadcast(to, from)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(b.shape, to) {
		return nil, fmt.Errorf("shape %v cannot be broadcast to %v", from, to)
	}
	if len(src) == b.size {
		return src, nil
	}
	dst := make([]T, b.size)
	b.each(threads, func(out, n int, off []int) {
		if b.inc[1] {
			copy(dst[out:out+n], src[off[1]:off[1]+n])
			return
		}
		v := src[off[1]]
		for i := range dst[out : out+n] {
			dst[out+i] = v
		}
	})
	return dst, nil
}
