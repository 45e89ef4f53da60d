// Package npy reads and writes tensors as NumPy .npy files, and reads .npz
// archives of them, so that model inputs and outputs can be exchanged with
// Python.
//
// Supported element types are float32, float64, int64, int32, int16, int8,
// uint8, uint16, uint32, uint64 and bool. Arrays must be stored in C
// (row-major) order; big-endian files are converted on read. Files are
// always written little-endian, format version 1.0.
//
// Decoding uses codeberg.org/sbinet/npyio after this package has checked
// the preamble and the data size, because that library allocates what the
// header declares and treats a short file as complete. Encoding is done
// here: npyio writes Go slices only as one-dimensional arrays.
package npy

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	npyio "codeberg.org/sbinet/npyio/npy"

	"amq/internal/atomicfile"
	"amq/onnx"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// maxHeader bounds the header dictionary; NumPy's own limit is 10000 bytes
// unless the reader opts out.
const maxHeader = 1 << 16

// ReadFile reads the .npy file at path.
func ReadFile(path string) (*onnx.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := Read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Read decodes one .npy array of size bytes from r.
func Read(r io.Reader, size int64) (*onnx.Tensor, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h, rd, err := readHeader(br, size)
	if err != nil {
		return nil, err
	}
	data, err := decode(rd, h.DType, h.elems())
	if err != nil {
		return nil, fmt.Errorf("npy data (%s %v): %w", h.descr, h.Shape, shortErr(err))
	}
	return &onnx.Tensor{DType: h.DType, Shape: append([]int(nil), h.Shape...), Data: data}, nil
}

// header is what a .npy preamble and header say about the data after it.
type header struct {
	DType     onnx.DataType
	Shape     []int
	esize     int    // bytes per element
	offset    int64  // of the data from the start of the array
	bigEndian bool   // the data is stored big-endian
	descr     string // NumPy's type string, for messages
}

func (h *header) elems() int { return onnx.NumElems(h.Shape) }

// readHeader reads the preamble and header of a .npy array of size bytes
// (size < 0: unknown) from br and checks them, and the size, before any
// data is read; rd reads the data after it.
func readHeader(br *bufio.Reader, size int64) (h *header, rd *npyio.Reader, err error) {
	pre, err := br.Peek(10)
	if err != nil {
		return nil, nil, fmt.Errorf("not a .npy file: %w", shortErr(err))
	}
	if string(pre[:6]) != magic {
		return nil, nil, errors.New("not a .npy file: bad magic")
	}
	var hdrLen, preLen int
	switch pre[6] {
	case 1:
		hdrLen, preLen = int(binary.LittleEndian.Uint16(pre[8:])), 10
	case 2, 3:
		p, err := br.Peek(12)
		if err != nil {
			return nil, nil, fmt.Errorf("npy header: %w", shortErr(err))
		}
		n := binary.LittleEndian.Uint32(p[8:])
		if n > maxHeader {
			return nil, nil, fmt.Errorf("npy header of %d bytes is larger than %d", n, maxHeader)
		}
		hdrLen, preLen = int(n), 12
	default:
		return nil, nil, fmt.Errorf("npy format version %d.%d is not supported", pre[6], pre[7])
	}
	if pre[6] == 3 {
		// Version 3 only differs by a UTF-8 header; npyio knows 1 and 2.
		return nil, nil, errors.New("npy format version 3.0 (UTF-8 header) is not supported")
	}
	full, err := br.Peek(preLen + hdrLen)
	if err != nil {
		return nil, nil, fmt.Errorf("npy header: %w", shortErr(err))
	}
	hdr := string(full[preLen:])
	if !strings.HasSuffix(hdr, "\n") || !strings.Contains(hdr, "}") {
		return nil, nil, fmt.Errorf("npy header %q is malformed", hdr)
	}
	// npyio's header parser slices by offsets it finds; keep a malformed
	// header an error rather than a panic.
	defer func() {
		if e := recover(); e != nil {
			h, rd, err = nil, nil, fmt.Errorf("npy header %q is malformed: %v", strings.TrimSpace(hdr), e)
		}
	}()
	rd, err = npyio.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("npy header: %w", err)
	}
	d := rd.Header.Descr
	if d.Fortran {
		return nil, nil, errors.New("array is stored in Fortran order; save it with numpy.ascontiguousarray first")
	}
	dt, esize, err := parseDescr(d.Type)
	if err != nil {
		return nil, nil, err
	}
	shape := d.Shape
	if len(shape) > 64 {
		return nil, nil, fmt.Errorf("rank %d is too large", len(shape))
	}
	n := 1
	for _, v := range shape {
		if v < 0 {
			return nil, nil, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if v != 0 && n > math.MaxInt/v {
			return nil, nil, fmt.Errorf("shape %v is too large", shape)
		}
		n *= v
	}
	if n > math.MaxInt/esize {
		return nil, nil, fmt.Errorf("shape %v is too large", shape)
	}
	if size >= 0 {
		if want := int64(preLen+hdrLen) + int64(n*esize); size != want {
			return nil, nil, fmt.Errorf("shape %v of %s needs %d data bytes, the file has %d", shape, d.Type, n*esize, size-int64(preLen+hdrLen))
		}
	}
	if shape == nil {
		shape = []int{}
	}
	h = &header{DType: dt, Shape: append([]int{}, shape...), esize: esize, offset: int64(preLen + hdrLen),
		bigEndian: strings.HasPrefix(strings.Trim(d.Type, "'\""), ">") && esize > 1, descr: d.Type}
	return h, rd, nil
}

// shortErr names an early end of input for what it is.
func shortErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}

// parseDescr maps a NumPy type string such as "<f4" to an ONNX type.
func parseDescr(descr string) (onnx.DataType, int, error) {
	s := strings.Trim(descr, "'\"")
	if len(s) < 2 {
		return 0, 0, fmt.Errorf("npy dtype %s is not supported", descr)
	}
	switch s[0] {
	case '<', '>', '|', '=':
		s = s[1:]
	}
	var dt onnx.DataType
	switch s {
	case "f4":
		dt = onnx.Float
	case "f8":
		dt = onnx.Double
	case "i8":
		dt = onnx.Int64
	case "i4":
		dt = onnx.Int32
	case "i2":
		dt = onnx.Int16
	case "i1":
		dt = onnx.Int8
	case "u1":
		dt = onnx.Uint8
	case "u2":
		dt = onnx.Uint16
	case "u4":
		dt = onnx.Uint32
	case "u8":
		dt = onnx.Uint64
	case "b1":
		dt = onnx.Bool
	default:
		return 0, 0, fmt.Errorf("npy dtype %s is not supported (want one of float32/64, (u)int8/16/32/64, bool)", descr)
	}
	return dt, dt.Size(), nil
}

// decode reads n elements with npyio into a slice of the right Go type;
// the slice is allocated here so that npyio reads exactly n elements.
func decode(rd *npyio.Reader, dt onnx.DataType, n int) (any, error) {
	var err error
	var data any
	switch dt {
	case onnx.Float:
		d := make([]float32, n)
		err, data = readInto(rd, &d), d
	case onnx.Double:
		d := make([]float64, n)
		err, data = readInto(rd, &d), d
	case onnx.Int64:
		d := make([]int64, n)
		err, data = readInto(rd, &d), d
	case onnx.Int32:
		d := make([]int32, n)
		err, data = readInto(rd, &d), d
	case onnx.Int16:
		d := make([]int16, n)
		err, data = readInto(rd, &d), d
	case onnx.Int8:
		d := make([]int8, n)
		err, data = readInto(rd, &d), d
	case onnx.Uint8:
		d := make([]uint8, n)
		err, data = readInto(rd, &d), d
	case onnx.Uint16:
		d := make([]uint16, n)
		err, data = readInto(rd, &d), d
	case onnx.Uint32:
		d := make([]uint32, n)
		err, data = readInto(rd, &d), d
	case onnx.Uint64:
		d := make([]uint64, n)
		err, data = readInto(rd, &d), d
	case onnx.Bool:
		d := make([]bool, n)
		err, data = readInto(rd, &d), d
	default:
		return nil, fmt.Errorf("type %v is not supported", dt)
	}
	return data, err
}

func readInto[T any](rd *npyio.Reader, p *[]T) error {
	if len(*p) == 0 {
		// npyio reads a header's element count into an empty slice.
		return nil
	}
	return rd.Read(p)
}

// WriteFile writes t to path as a .npy file, atomically. The file is
// written as it is encoded, without a copy of the array in memory (an
// LLM's logits are hundreds of megabytes).
func WriteFile(path string, t *onnx.Tensor) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := Write(f, t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// Write encodes t as a .npy array (format 1.0, little-endian, C order).
func Write(w io.Writer, t *onnx.Tensor) error {
	descr, err := descrOf(t)
	if err != nil {
		return err
	}
	n := onnx.NumElems(t.Shape)
	if l, _ := t.DataLen(); l != n {
		return fmt.Errorf("tensor %q: shape %v needs %d elements, data has %d", t.Name, t.Shape, n, l)
	}
	var sh strings.Builder
	sh.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			sh.WriteString(", ")
		}
		sh.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		sh.WriteByte(',')
	}
	sh.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, sh.String())
	// NumPy aligns the data to 64 bytes: pad with spaces, end with '\n'.
	total := len(magic) + 4 + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	if len(hdr) > math.MaxUint16 {
		return fmt.Errorf("tensor %q: npy header too long", t.Name)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	bw.Write([]byte{1, 0})
	binary.Write(bw, binary.LittleEndian, uint16(len(hdr)))
	bw.WriteString(hdr)
	if b, ok := t.Data.([]bool); ok {
		for _, v := range b {
			if v {
				bw.WriteByte(1)
			} else {
				bw.WriteByte(0)
			}
		}
	} else if f, ok := t.Data.([]float32); ok {
		// In pieces: binary.Write encodes its whole argument first.
		for len(f) > 0 {
			k := min(len(f), 1<<14)
			if err := binary.Write(bw, binary.LittleEndian, f[:k]); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			f = f[k:]
		}
	} else if err := binary.Write(bw, binary.LittleEndian, t.Data); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return bw.Flush()
}

// descrOf is the NumPy type string of t's elements.
func descrOf(t *onnx.Tensor) (string, error) {
	want := map[onnx.DataType]string{
		onnx.Float: "<f4", onnx.Double: "<f8", onnx.Int64: "<i8", onnx.Int32: "<i4",
		onnx.Int16: "<i2", onnx.Int8: "|i1", onnx.Uint8: "|u1", onnx.Uint16: "<u2",
		onnx.Uint32: "<u4", onnx.Uint64: "<u8", onnx.Bool: "|b1",
	}
	d, ok := want[t.DType]
	if !ok {
		return "", fmt.Errorf("tensor %q: type %v cannot be written as .npy", t.Name, t.DType)
	}
	var okData bool
	switch t.Data.(type) {
	case []float32:
		okData = t.DType == onnx.Float
	case []float64:
		okData = t.DType == onnx.Double
	case []int64:
		okData = t.DType == onnx.Int64
	case []int32:
		okData = t.DType == onnx.Int32
	case []int16:
		okData = t.DType == onnx.Int16
	case []int8:
		okData = t.DType == onnx.Int8
	case []uint8:
		okData = t.DType == onnx.Uint8
	case []uint16:
		okData = t.DType == onnx.Uint16
	case []uint32:
		okData = t.DType == onnx.Uint32
	case []uint64:
		okData = t.DType == onnx.Uint64
	case []bool:
		okData = t.DType == onnx.Bool
	}
	if !okData {
		return "", fmt.Errorf("tensor %q: %v tensor holds %T", t.Name, t.DType, t.Data)
	}
	return d, nil
}

// ReadNPZFile reads every array of the .npz archive at path (as written by
// numpy.savez or numpy.savez_compressed), keyed by array name.
func ReadNPZFile(file string) (map[string]*onnx.Tensor, error) {
	z, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	defer z.Close()
	out := map[string]*onnx.Tensor{}
	for _, f := range z.File {
		name := strings.TrimSuffix(path.Clean(f.Name), ".npy")
		if f.UncompressedSize64 > math.MaxInt64 {
			return nil, fmt.Errorf("%s: array %q: size %d is too large", file, name, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: array %q: %w", file, name, err)
		}
		t, err := Read(rc, int64(f.UncompressedSize64))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: array %q: %w", file, name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: array %q appears twice", file, name)
		}
		t.Name = name
		out[name] = t
	}
	return out, nil
}
