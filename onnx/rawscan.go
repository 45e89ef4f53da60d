package onnx

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto that the raw-data scan walks.
const (
	modelGraphField       = 7 // ModelProto.graph
	graphInitializerField = 5 // GraphProto.initializer
	tensorRawDataField    = 9 // TensorProto.raw_data
)

// stripRawData returns a copy of the serialized ModelProto buf without the
// raw_data of initializers of at least minSize bytes, and those raw_data
// slices, aliasing buf, by initializer index (nil where kept). Decoding the
// copy and setting the slices back gives the message buf holds, without
// protobuf copying every weight (docs/design.md "Loading large models").
// ok is false when buf has a form the scan does not handle (a repeated
// graph or raw_data field, a malformed field): decode buf as it is then.
func stripRawData(buf []byte, minSize int) (compact []byte, raws [][]byte, ok bool) {
	var graph []byte
	out := make([]byte, 0, 1<<16)
	for rest := buf; len(rest) > 0; {
		num, typ, n := protowire.ConsumeField(rest)
		if n < 0 {
			return nil, nil, false
		}
		if num == modelGraphField && typ == protowire.BytesType {
			if graph != nil {
				return nil, nil, false
			}
			graph, raws, ok = stripGraph(rest, minSize)
			if !ok {
				return nil, nil, false
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, graph)
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	return out, raws, true
}

// stripGraph rewrites the graph field at the head of field: every
// initializer with its large raw_data left out.
func stripGraph(field []byte, minSize int) ([]byte, [][]byte, bool) {
	g, ok := fieldBytes(field)
	if !ok {
		return nil, nil, false
	}
	out := make([]byte, 0, 1<<16)
	var raws [][]byte
	stripped := false
	for rest := g; len(rest) > 0; {
		num, typ, n := protowire.ConsumeField(rest)
		if n < 0 {
			return nil, nil, false
		}
		if num == graphInitializerField && typ == protowire.BytesType {
			t, raw, ok := stripTensor(rest, minSize)
			if !ok {
				return nil, nil, false
			}
			stripped = stripped || raw != nil
			raws = append(raws, raw)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, t)
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	if !stripped {
		raws = nil
	}
	return out, raws, true
}

// stripTensor returns the TensorProto at the head of field without its
// raw_data when that has at least minSize bytes, and the raw_data.
func stripTensor(field []byte, minSize int) (tensor, raw []byte, ok bool) {
	t, ok := fieldBytes(field)
	if !ok {
		return nil, nil, false
	}
	rawAt, rawLen := -1, 0
	for off := 0; off < len(t); {
		num, typ, n := protowire.ConsumeField(t[off:])
		if n < 0 {
			return nil, nil, false
		}
		if num == tensorRawDataField && typ == protowire.BytesType {
			if rawAt >= 0 {
				return nil, nil, false
			}
			rawAt, rawLen = off, n
		}
		off += n
	}
	if rawAt < 0 {
		return t, nil, true
	}
	raw, _ = fieldBytes(t[rawAt:])
	if len(raw) < minSize {
		return t, nil, true
	}
	out := make([]byte, 0, len(t)-rawLen)
	out = append(out, t[:rawAt]...)
	out = append(out, t[rawAt+rawLen:]...)
	// Keep a zero-length raw_data so the decoded proto still says where
	// the data is (RawData non-nil); the caller puts raw back.
	out = protowire.AppendTag(out, tensorRawDataField, protowire.BytesType)
	out = protowire.AppendVarint(out, 0)
	return out, raw, true
}

// fieldBytes returns the payload of the length-delimited field at the head
// of b.
func fieldBytes(b []byte) ([]byte, bool) {
	_, _, n := protowire.ConsumeTag(b)
	if n < 0 {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return nil, false
	}
	return v, true
}
