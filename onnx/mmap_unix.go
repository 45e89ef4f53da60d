//go:build unix

package onnx

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f privately: the pages are read from the
// file as they are first touched and stay shared with the page cache,
// and a write copies the page it touches instead of changing the file, so
// tensors aliasing the mapping can be changed in place like any other.
// The mapping is never unmapped: tensors may alias it for as long as the
// process lives (docs/design.md "Loading large models").
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
}
