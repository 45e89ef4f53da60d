package sim

import (
	"fmt"

	"amq/onnx"
)

// The strided-copy engine behind the data-movement operators (Transpose,
// Slice, Concat, Split, Pad, Expand, Tile). A view of a tensor is an
// element offset into its flat data plus one stride per dimension of a
// shape, so that index i reads element off + sum(i[k]*strides[k]). Each
// operator works out a source view and a destination view of the same
// shape, and copyStrided moves the elements: a transpose permutes the
// source strides, a slice offsets and scales them, a broadcast sets them to
// zero, a concatenation offsets the destination. The copy itself is
// written once, generic over the element type, and instantiated for every
// Go type an ONNX tensor can hold by one type switch.

// denseStrides returns the row-major element strides of shape.
func denseStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// expandStrides returns the strides that read a tensor of shape in as a
// tensor of shape out (right-aligned numpy broadcasting, stride 0 on
// broadcast dimensions).
func expandStrides(in, out []int) ([]int, error) {
	if len(in) > len(out) {
		return nil, fmt.Errorf("cannot broadcast %v to %v", in, out)
	}
	st := make([]int, len(out))
	is := denseStrides(in)
	off := len(out) - len(in)
	for i, d := range in {
		switch {
		case d == out[off+i]:
			st[off+i] = is[i]
		case d == 1:
			st[off+i] = 0
		default:
			return nil, fmt.Errorf("cannot broadcast %v to %v", in, out)
		}
	}
	return st, nil
}

// coalesce merges adjacent dimensions that are contiguous in both the
// source and destination views and drops unit dimensions, so that the copy
// loop runs over fewer, longer rows. A view of one element comes back
// with no dimensions at all.
func coalesce(shape, dStr, sStr []int) ([]int, []int, []int) {
	var sh, ds, ss []int
	for i, d := range shape {
		if d == 1 {
			continue
		}
		k := len(sh) - 1
		if k >= 0 && ds[k] == dStr[i]*d && ss[k] == sStr[i]*d {
			sh[k] *= d
			ds[k], ss[k] = dStr[i], sStr[i]
			continue
		}
		sh = append(sh, d)
		ds = append(ds, dStr[i])
		ss = append(ss, sStr[i])
	}
	return sh, ds, ss
}

// copyStrided copies the view of src (offset sOff, strides sStr) into the
// view of dst (offset dOff, strides dStr), both of the given shape. Strides
// may be zero (broadcast) or negative (reversed slices). dst and src must
// have the same element type; the destination view must not overlap itself.
func copyStrided(threads int, dst, src *onnx.Tensor, dOff int, dStr []int, sOff int, sStr []int, shape []int) error {
	if onnx.NumElems(shape) == 0 {
		return nil
	}
	shape, dStr, sStr = coalesce(shape, dStr, sStr)
	switch s := src.Data.(type) {
	case []float32:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []float64:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []int64:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []int32:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []int16:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []int8:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []uint8:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []uint16:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []uint32:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []uint64:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []bool:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	case []string:
		return stridedAs(threads, dst, s, dOff, dStr, sOff, sStr, shape)
	}
	return fmt.Errorf("tensor %q: unsupported element type %v", src.Name, src.DType)
}

// stridedAs is copyStrided for one element type T; it checks that dst
// holds T too.
func stridedAs[T any](threads int, dst *onnx.Tensor, src []T, dOff int, dStr []int, sOff int, sStr []int, shape []int) error {
	d, ok := dst.Data.([]T)
	if !ok {
		return fmt.Errorf("element types differ: %T and %T", dst.Data, src)
	}
	if len(shape) == 0 {
		d[dOff] = src[sOff]
		return nil
	}
	// Split the outermost dimension across goroutines: the destination
	// rows are disjoint, so the chunks never write the same element. A
	// chunk moves at least about 32K elements, below which a goroutine
	// costs more than the copy.
	inner := onnx.NumElems(shape[1:])
	grain := max(1, (1<<15)/max(inner, 1))
	parallelFor(threads, shape[0], grain, func(lo, hi int) {
		sub := append([]int{hi - lo}, shape[1:]...)
		stridedLoop(d, dOff+lo*dStr[0], dStr, src, sOff+lo*sStr[0], sStr, sub)
	})
	return nil
}

// stridedLoop walks all index tuples of shape (at least one dimension)
// with an odometer, outermost dimension slowest. The last dimension is the
// inner loop: a copy when both sides are contiguous, a fill when the
// source repeats one element, else an element-by-element walk.
func stridedLoop[T any](dst []T, dOff int, dStr []int, src []T, sOff int, sStr []int, shape []int) {
	r := len(shape)
	n, ds, ss := shape[r-1], dStr[r-1], sStr[r-1]
	// A transpose of the last two dimensions (the source contiguous along
	// the one before last) goes by blocks of rows: the inner step covers
	// both dimensions.
	block := r >= 2 && ds == 1 && ss > 1 && sStr[r-2] == 1 && shape[r-2] >= transposeRows
	inner := 1
	if block {
		inner = 2
	}
	idx := make([]int, r-inner)
	for {
		switch {
		case block:
			transposeBlocks(dst, dOff, dStr[r-2], src, sOff, ss, shape[r-2], n)
		case ds == 1 && ss == 1:
			copy(dst[dOff:dOff+n], src[sOff:sOff+n])
		case ds == 1 && ss == 0:
			v := src[sOff]
			row := dst[dOff : dOff+n]
			for i := range row {
				row[i] = v
			}
		default:
			di, si := dOff, sOff
			for range n {
				dst[di] = src[si]
				di += ds
				si += ss
			}
		}
		k := r - inner - 1
		for ; k >= 0; k-- {
			idx[k]++
			dOff += dStr[k]
			sOff += sStr[k]
			if idx[k] < shape[k] {
				break
			}
			dOff -= dStr[k] * shape[k]
			sOff -= sStr[k] * shape[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// transposeRows is the number of destination rows transposeBlocks writes
// together.
const transposeRows = 8

// transposeBlocks sets dst[dOff+i*dRow+j] = src[sOff+i+j*sCol] for i <
// rows, j < cols: a transpose from a source contiguous along i. Eight
// destination rows are written together, each source run of eight read
// once, so that both sides move whole cache lines; the rows left over go
// one by one.
func transposeBlocks[T any](dst []T, dOff, dRow int, src []T, sOff, sCol, rows, cols int) {
	i := 0
	for ; i+transposeRows <= rows; i += transposeRows {
		o := dOff + i*dRow
		d0, d1, d2, d3 := dst[o:o+cols], dst[o+dRow:o+dRow+cols], dst[o+2*dRow:o+2*dRow+cols], dst[o+3*dRow:o+3*dRow+cols]
		d4, d5, d6, d7 := dst[o+4*dRow:o+4*dRow+cols], dst[o+5*dRow:o+5*dRow+cols], dst[o+6*dRow:o+6*dRow+cols], dst[o+7*dRow:o+7*dRow+cols]
		si := sOff + i
		for j := range d0 {
			s := src[si : si+transposeRows]
			d0[j], d1[j], d2[j], d3[j] = s[0], s[1], s[2], s[3]
			d4[j], d5[j], d6[j], d7[j] = s[4], s[5], s[6], s[7]
			si += sCol
		}
	}
	for ; i < rows; i++ {
		row := dst[dOff+i*dRow : dOff+i*dRow+cols]
		si := sOff + i
		for j := range row {
			row[j] = src[si]
			si += sCol
		}
	}
}
