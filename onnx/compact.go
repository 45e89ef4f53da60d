package onnx

import (
	"encoding/binary"
	"io"
	"math"
)

// Compact holds the elements of a FLOAT tensor in less memory than
// []float32 and widens them a range at a time: a float16 model's weight
// in the float32 model quantization computes with (HalfFloats), or a
// weight held as int8 codes and scales (package quant). The elements are
// never written: a tensor whose values change gets a []float32 of its own
// (Clone, Widened). sim's MatMul widens a Compact B a panel at a time;
// every other reader widens it first (docs/design.md "Loading large
// models").
type Compact interface {
	// Len is the number of elements.
	Len() int
	// WidenTo writes elements off, off+1, ... off+len(dst)-1 into dst.
	WidenTo(dst []float32, off int)
}

// HalfFloats is a FLOAT tensor's elements held as the float16 or bfloat16
// values (Type) they are widened from exactly: what Graph.WidenHalfFloats
// makes of a weight LoadFileHalves kept 16-bit, so that quantizing a
// float16 model computes in float32 without a float32 copy of every weight.
type HalfFloats struct {
	Type   DataType // Float16 or BFloat16
	Halves Halves
}

// Len is the number of elements.
func (h HalfFloats) Len() int { return len(h.Halves) }

// WidenTo writes elements off.. of h into dst as float32.
func (h HalfFloats) WidenTo(dst []float32, off int) {
	WidenHalves(h.Type, dst, h.Halves[off:off+len(dst)])
}

// widenCompact returns the elements of c as a new []float32.
func widenCompact(c Compact) []float32 {
	d := make([]float32, c.Len())
	c.WidenTo(d, 0)
	return d
}

// compactChunk is the number of elements a Compact's raw_data is widened
// by at a time when written: the bytes of a model's weights are never all
// float32 at once.
const compactChunk = 1 << 16

// writeCompactRaw writes c's elements to w as float32 raw_data (little
// endian), a chunk at a time.
func writeCompactRaw(w io.Writer, c Compact) error {
	n := c.Len()
	f := make([]float32, min(n, compactChunk))
	b := make([]byte, 4*len(f))
	for off := 0; off < n; off += len(f) {
		part := f[:min(len(f), n-off)]
		c.WidenTo(part, off)
		for i, v := range part {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		if _, err := w.Write(b[:4*len(part)]); err != nil {
			return err
		}
	}
	return nil
}

// compactRaw is writeCompactRaw into a new buffer (Tensor.Raw).
func compactRaw(c Compact) []byte {
	b := make([]byte, 0, 4*c.Len())
	w := appendWriter{&b}
	_ = writeCompactRaw(w, c) // appending cannot fail
	return b
}

// appendWriter appends what is written to *b.
type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}
