package sim

import "unsafe"

// Packed weights are the one large operand the kernels stream from memory
// (a 512x512 3x3 layer's 9.4 MB of W^T at batch 1, BERT's 9.4 MB FFN
// matrices). In 4 KiB pages every 32 KiB block of B spans 8 pages: the
// TLB cannot map the stream and the hardware prefetchers stop at every
// page. In 2 MiB pages the four 7x7-output layers of ResNet-18 ran 12-15%
// faster at batch 1 (7.5 ms against 6.6), while prefetching B two or
// three blocks ahead, across calls, or spread over the whole call gained
// nothing measurable in 4 KiB pages.

// hugePage is the size of a transparent huge page.
const hugePage = 2 << 20

// Sizes of packed weights that ask for huge pages: from hugeInner bytes,
// the whole huge pages that lie inside the slice; from hugeAligned
// bytes, the slice starts on a huge page, for up to hugePage bytes
// (at most a quarter) more.
const (
	hugeInner   = 2 * hugePage
	hugeAligned = 4 * hugePage
)

// weightFloats returns n float32s for packed weights, filled by fill,
// in huge pages where the system gives them (hugePages). The pages are
// asked for before fill touches them and again after, for memory the
// process had already touched.
func weightFloats(n int, fill func([]float32)) []float32 {
	if n*4 < hugeInner {
		s := make([]float32, n)
		fill(s)
		return s
	}
	buf := make([]float32, n)
	if n*4 >= hugeAligned {
		buf = make([]float32, n+hugePage/4)
		skip := (hugePage - uintptr(unsafe.Pointer(&buf[0]))%hugePage) % hugePage / 4
		buf = buf[skip:]
	}
	hugePages(buf, false)
	s := buf[:n:n]
	fill(s)
	hugePages(buf, true)
	return s
}
