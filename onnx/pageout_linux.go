package onnx

import "golang.org/x/sys/unix"

// pageOut asks the kernel to reclaim b's pages now (MADV_PAGEOUT, Linux
// 5.4 and later): pages still as in the file leave the resident set and
// are read again when touched; pages the process changed stay. Older
// kernels refuse the advice, which changes nothing.
func pageOut(b []byte) { _ = unix.Madvise(b, unix.MADV_PAGEOUT) }
