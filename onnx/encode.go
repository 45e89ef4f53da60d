package onnx

import (
	"fmt"
	"io"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"amq/onnx/onnxpb"
)

// encodeTo writes m as a serialized ModelProto, byte for byte what
// Save wrote by marshalling m.ToProto() (with external data moved out by ext), without holding the
// message: every message but the initializers' raw_data is marshalled as
// usual, and each initializer's raw_data is written from the tensor as it
// goes, so saving needs no second copy of the weights (docs/design.md
// "Loading large models"). Protobuf writes the fields of a message in
// field-number order, which is what lets the message be cut into the
// parts before and after the initializers.
func (m *Model) encodeTo(w io.Writer, ext func(*Tensor, []byte, *onnxpb.TensorProto) error) error {
	full, err := m.toProto(true)
	if err != nil {
		return err
	}
	g := full.Graph
	// The graph's fields before initializer (5) and after it.
	head := &onnxpb.GraphProto{Node: g.Node, Name: g.Name}
	tail := &onnxpb.GraphProto{DocString: g.DocString, Input: g.Input, Output: g.Output, ValueInfo: g.ValueInfo}
	names := m.Graph.sortedInitNames()
	inits := make([]initPart, len(names))
	headSize := proto.Size(head)
	size := headSize + proto.Size(tail)
	for i, name := range names {
		p, err := m.Graph.Initializers[name].encodeInit(name, ext)
		if err != nil {
			return fmt.Errorf("initializer %q: %w", name, err)
		}
		inits[i] = p
		size += protowire.SizeTag(graphInitializerField) + protowire.SizeBytes(p.size())
	}
	// The model's fields before graph (7) and after it.
	full.Graph = nil
	before := &onnxpb.ModelProto{IrVersion: full.IrVersion, ProducerName: full.ProducerName, ProducerVersion: full.ProducerVersion,
		Domain: full.Domain, ModelVersion: full.ModelVersion, DocString: full.DocString}
	after := proto.Clone(full).(*onnxpb.ModelProto)
	after.IrVersion, after.ProducerName, after.ProducerVersion, after.Domain, after.ModelVersion, after.DocString = nil, nil, nil, nil, nil, nil

	det := proto.MarshalOptions{Deterministic: true}
	b, err := det.Marshal(before)
	if err != nil {
		return err
	}
	b = protowire.AppendTag(b, modelGraphField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if b, err = det.MarshalAppend(b, head); err != nil {
		return err
	}
	if buf, ok := w.(interface{ Grow(int) }); ok {
		// A buffer (Marshal) takes the whole model, whose length is
		// known now: one allocation instead of doubling as it fills.
		buf.Grow(len(b) + size - headSize + proto.Size(after))
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	for i, p := range inits {
		if err := p.writeTo(w); err != nil {
			return fmt.Errorf("initializer %q: %w", names[i], err)
		}
	}
	b, err = det.Marshal(tail)
	if err != nil {
		return err
	}
	if b, err = det.MarshalAppend(b, after); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// initPart is one initializer ready to be written: its TensorProto without
// raw_data, marshalled, and the raw_data (nil when external or strings).
type initPart struct {
	fields []byte
	raw    []byte
	// compact, when set instead of raw, is widened into raw_data as it
	// is written (a Compact's float32 bytes are never all held at once).
	compact Compact
}

// rawLen is the length of the part's raw_data, -1 when it has none.
func (p initPart) rawLen() int {
	switch {
	case p.compact != nil:
		return 4 * p.compact.Len()
	case p.raw != nil:
		return len(p.raw)
	}
	return -1
}

func (p initPart) size() int {
	n := len(p.fields)
	if l := p.rawLen(); l >= 0 {
		n += protowire.SizeTag(tensorRawDataField) + protowire.SizeBytes(l)
	}
	return n
}

// writeTo writes the initializer field: raw_data (9) comes after every
// field the header has (dims 1, data_type 2, string_data 6, name 8).
func (p initPart) writeTo(w io.Writer) error {
	b := protowire.AppendTag(nil, graphInitializerField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(p.size()))
	b = append(b, p.fields...)
	if l := p.rawLen(); l >= 0 {
		b = protowire.AppendTag(b, tensorRawDataField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(l))
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if p.compact != nil {
		return writeCompactRaw(w, p.compact)
	}
	if len(p.raw) > 0 {
		_, err := w.Write(p.raw)
		return err
	}
	return nil
}

// encodeInit prepares t for writing as initializer name; ext, when not
// nil, may move its raw data to an external file.
func (t *Tensor) encodeInit(name string, ext func(*Tensor, []byte, *onnxpb.TensorProto) error) (initPart, error) {
	if c, ok := t.Data.(Compact); ok && ext == nil && t.DType == Float && c.Len() == t.Len() {
		p, _ := t.protoMeta()
		p.Name = ptr(name)
		fields, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			return initPart{}, err
		}
		return initPart{fields: fields, compact: c}, nil
	}
	p, raw, err := t.protoHeader()
	if err != nil {
		return initPart{}, err
	}
	p.Name = ptr(name)
	if ext != nil && raw != nil {
		if err := ext(t, raw, p); err != nil {
			return initPart{}, err
		}
		if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			raw = nil
		}
	}
	fields, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return initPart{}, err
	}
	return initPart{fields: fields, raw: raw}, nil
}

// protoHeader is ToProto without raw_data, which it returns apart: in
// place for float32 data on a little-endian host, else encoded by Raw.
func (t *Tensor) protoHeader() (*onnxpb.TensorProto, []byte, error) {
	p, str := t.protoMeta()
	if str {
		return p, nil, nil
	}
	if d, ok := t.Data.([]float32); ok && t.DType == Float && nativeLittleEndian && len(d) == t.Len() {
		if len(d) == 0 {
			return p, []byte{}, nil
		}
		return p, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d))), 4*len(d)), nil
	}
	raw, err := t.Raw()
	if err != nil {
		return nil, nil, err
	}
	return p, raw, nil
}
