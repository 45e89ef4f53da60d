package npy

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"amq/onnx"
)

// Array is a .npy array opened for reading runs of rows (samples, on axis
// 0) on demand: memory holds what is read, not the file, so an array
// larger than memory can be read batch by batch. Reads go through ReadAt
// and decode as Read does (any supported type, either byte order).
type Array struct {
	DType onnx.DataType
	Shape []int
	h     *header
	r     io.ReaderAt // the array from its first byte
}

// openArray reads the header of the array of size bytes that r holds.
func openArray(r io.ReaderAt, size int64) (*Array, error) {
	h, _, err := readHeader(bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size)
	if err != nil {
		return nil, err
	}
	return &Array{DType: h.DType, Shape: h.Shape, h: h, r: r}, nil
}

// File is an opened .npy file; Close releases it.
type File struct {
	*Array
	f *os.File
}

// Open opens the .npy file at path and checks its header and size; no data
// is read yet.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a, err := openArray(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{a, f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Rows reads rows [lo, hi) of axis 0 as a tensor of shape
// [hi-lo, Shape[1:]...].
func (a *Array) Rows(lo, hi int) (*onnx.Tensor, error) {
	if len(a.Shape) == 0 {
		return nil, errors.New("a scalar has no rows")
	}
	if lo < 0 || hi > a.Shape[0] || lo > hi {
		return nil, fmt.Errorf("rows [%d, %d) out of range [0, %d)", lo, hi, a.Shape[0])
	}
	row := onnx.NumElems(a.Shape[1:]) * a.h.esize
	buf := make([]byte, (hi-lo)*row)
	if n, err := a.r.ReadAt(buf, a.h.offset+int64(lo)*int64(row)); n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("npy data (%s %v), rows %d to %d: %w", a.h.descr, a.Shape, lo, hi-1, shortErr(err))
	}
	if a.h.bigEndian {
		swapBytes(buf, a.h.esize)
	}
	return onnx.TensorFromRaw(a.DType, append([]int{hi - lo}, a.Shape[1:]...), buf)
}

// swapBytes reverses the bytes of every element of size n in buf.
func swapBytes(buf []byte, n int) {
	for i := 0; i+n <= len(buf); i += n {
		e := buf[i : i+n]
		for j, k := 0, n-1; j < k; j, k = j+1, k-1 {
			e[j], e[k] = e[k], e[j]
		}
	}
}

// NPZ is an opened .npz archive whose arrays are read on demand: an array
// stored uncompressed (numpy.savez) at any row, a compressed one
// (numpy.savez_compressed) by decompressing up to the rows asked for,
// from where the last read ended when they come later in the array.
type NPZ struct {
	Arrays map[string]*Array // by name, without ".npy"
	f      *os.File
}

// OpenNPZ opens the .npz archive at path and checks the header of every
// array in it; no data is read yet.
func OpenNPZ(file string) (*NPZ, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	z, err := openNPZ(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return z, nil
}

func openNPZ(f *os.File) (*NPZ, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, err
	}
	z := &NPZ{Arrays: map[string]*Array{}, f: f}
	for _, m := range zr.File {
		name := strings.TrimSuffix(path.Clean(m.Name), ".npy")
		if m.UncompressedSize64 > 1<<62 {
			return nil, fmt.Errorf("array %q: size %d is too large", name, m.UncompressedSize64)
		}
		size := int64(m.UncompressedSize64)
		var r io.ReaderAt
		if off, err := m.DataOffset(); err == nil && m.Method == zip.Store && m.CompressedSize64 == m.UncompressedSize64 {
			r = io.NewSectionReader(f, off, size)
		} else {
			r = &forwardReader{open: m.Open}
		}
		a, err := openArray(r, size)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", name, err)
		}
		if _, dup := z.Arrays[name]; dup {
			return nil, fmt.Errorf("array %q appears twice", name)
		}
		z.Arrays[name] = a
	}
	return z, nil
}

// Close closes the archive.
func (z *NPZ) Close() error { return z.f.Close() }

// forwardReader reads a compressed member at any offset by decompressing
// from the start, or from where the last read ended when the offset is
// not before it: batches read in order decompress the array once.
type forwardReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	pos  int64
}

func (r *forwardReader) ReadAt(p []byte, off int64) (int, error) {
	if r.rc == nil || off < r.pos {
		if r.rc != nil {
			r.rc.Close()
		}
		rc, err := r.open()
		if err != nil {
			return 0, err
		}
		r.rc, r.pos = rc, 0
	}
	if n, err := io.CopyN(io.Discard, r.rc, off-r.pos); err != nil {
		r.pos += n
		return 0, err
	}
	n, err := io.ReadFull(r.rc, p)
	r.pos = off + int64(n)
	return n, err
}
