package sim

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePages advises Linux to back the aligned 2 MiB pages inside s with
// transparent huge pages (THP "always" or "madvise", the usual default)
// and drops the pages there (MADV_DONTNEED), which then read as zeros,
// as s does, so that the next touch maps huge pages even where the heap
// had touched the memory before. s must be new: zero, and not in use.
// It is advice: an error changes nothing the program computes, so it is
// ignored.
func hugePages(s []float32) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	end := start + uintptr(len(s))*4
	lo, hi := (start+hugePage-1)&^(hugePage-1), end&^(hugePage-1)
	if lo >= hi {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), lo-start)), hi-lo)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(b, unix.MADV_DONTNEED)
}
