package sim

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePages advises Linux to back the aligned 2 MiB pages inside s with
// transparent huge pages when they are first touched (THP "always" or
// "madvise", the usual default). It is advice: an error changes nothing
// the program computes, so it is ignored.
func hugePages(s []float32) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	end := start + uintptr(len(s))*4
	lo, hi := (start+hugePage-1)&^(hugePage-1), end&^(hugePage-1)
	if lo >= hi {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), lo-start)), hi-lo), unix.MADV_HUGEPAGE)
}
