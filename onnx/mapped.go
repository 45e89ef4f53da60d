package onnx

import (
	"os"
	"sync"
	"unsafe"
)

// mappings lists every file LoadFile mapped, so that a tensor can tell
// whether its elements lie in one (docs/design.md "Loading large models").
var mappings struct {
	sync.Mutex
	list [][]byte
}

func registerMapping(b []byte) {
	mappings.Lock()
	mappings.list = append(mappings.list, b)
	mappings.Unlock()
}

// PageOut tells the kernel that t's elements will not be read for a while
// when they lie in a file LoadFile mapped (float32, float16 and bfloat16
// tensors; others are left alone): the whole pages they cover leave the resident memory now
// and are read again from the file when used. The flow calls it on a
// weight it has just copied, so that the original and the copy are not
// both resident; t stays valid.
func (t *Tensor) PageOut() {
	var lo, hi uintptr
	switch d := t.Data.(type) {
	case []float32:
		lo, hi = sliceSpan(d)
	case Halves:
		lo, hi = sliceSpan(d)
	case HalfFloats:
		lo, hi = sliceSpan(d.Halves)
	}
	if lo == hi {
		return
	}
	mappings.Lock()
	defer mappings.Unlock()
	for _, b := range mappings.list {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if lo < base || hi > base+uintptr(len(b)) {
			continue
		}
		// Only the pages t covers whole: a neighbour may be in use.
		page := uintptr(os.Getpagesize())
		first, last := (lo-base+page-1)/page*page, (hi-base)/page*page
		if first < last {
			pageOut(b[first:last])
		}
		return
	}
}

// sliceSpan is the address range of d's elements (lo == hi when empty).
func sliceSpan[T any](d []T) (lo, hi uintptr) {
	if len(d) == 0 {
		return 0, 0
	}
	lo = uintptr(unsafe.Pointer(unsafe.SliceData(d)))
	return lo, lo + uintptr(len(d))*unsafe.Sizeof(d[0])
}
