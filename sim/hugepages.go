package sim

import "unsafe"

// Packed weights are the one large operand the kernels stream from memory
// (a 512x512 3x3 layer's 9.4 MB of W^T at batch 1, BERT's 9.4 MB FFN
// matrices). In 4 KiB pages every 32 KiB block of B spans 8 pages: the
// TLB cannot map the stream and the hardware prefetchers stop at every
// page. In 2 MiB pages the four 7x7-output layers of ResNet-18 ran 10-15%
// faster at batch 1 (6.85 ms against 6.1; a 512x512 one then takes about
// as long in the model as alone, its weights in cache), BERT's layer the
// same or up to 2% faster. Prefetching B
// two or three blocks ahead, into the next call's block, or spread over
// the whole call instead of its first strips gained nothing measurable,
// in either page size.

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
// in huge pages where the system gives them (hugePages, before fill
// touches them). Packing happens on a session's first run, when the heap
// often reuses memory the process touched before (the model's encoding,
// say): in a ResNet-18 process only 12 of its 30 MB would have been in
// huge pages. Merging such pages (MADV_COLLAPSE) cost 10-30 ms a session,
// more than a run gains; dropping them first costs nothing measurable.
func weightFloats(n int, fill func([]float32)) []float32 {
	if n*4 < hugeInner {
		s := make([]float32, n)
		fill(s)
		return s
	}
	var buf []float32
	if n*4 >= hugeAligned {
		buf = make([]float32, n+hugePage/4)
		skip := (hugePage - uintptr(unsafe.Pointer(&buf[0]))%hugePage) % hugePage / 4
		buf = buf[skip:]
	} else {
		buf = make([]float32, n)
	}
	hugePages(buf)
	s := buf[:n:n]
	fill(s)
	return s
}
