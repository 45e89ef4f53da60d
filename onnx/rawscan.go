package onnx

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto that the raw-data scan walks.
const (
	modelGraphField       = 7 // ModelProto.graph
	graphNodeField        = 1 // GraphProto.node
	graphInitializerField = 5 // GraphProto.initializer
	nodeAttributeField    = 5 // NodeProto.attribute
	attributeTensorField  = 5 // AttributeProto.t
	tensorRawDataField    = 9 // TensorProto.raw_data
)

// strippedRaws are the raw_data a scan left out of a message, aliasing
// the buffer scanned: by initializer index (nil where kept), and by node
// and attribute index for the tensors of TENSOR attributes (Constant
// nodes, where exporters such as Paddle2ONNX put the weights).
type strippedRaws struct {
	inits [][]byte
	attrs map[attrAt][]byte
}

// attrAt is attribute attr of node node of a graph.
type attrAt struct{ node, attr int }

// stripRawData returns a copy of the serialized ModelProto buf without the
// raw_data of the main graph's initializers and TENSOR attributes of at
// least minSize bytes, and those raw_data slices, aliasing buf. Decoding
// the copy and setting the slices back gives the message buf holds,
// without protobuf copying every weight (docs/design.md "Loading large
// models"). ok is false when buf has a form the scan does not handle (a
// repeated graph or raw_data field, a malformed field): decode buf as it
// is then.
func stripRawData(buf []byte, minSize int) (compact []byte, raws strippedRaws, ok bool) {
	var graph []byte
	out := make([]byte, 0, 1<<16)
	for rest := buf; len(rest) > 0; {
		num, typ, n := protowire.ConsumeField(rest)
		if n < 0 {
			return nil, strippedRaws{}, false
		}
		if num == modelGraphField && typ == protowire.BytesType {
			if graph != nil {
				return nil, strippedRaws{}, false
			}
			graph, raws, ok = stripGraph(rest, minSize)
			if !ok {
				return nil, strippedRaws{}, false
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
// initializer and every node's TENSOR attribute with its large raw_data
// left out.
func stripGraph(field []byte, minSize int) ([]byte, strippedRaws, bool) {
	g, ok := fieldBytes(field)
	if !ok {
		return nil, strippedRaws{}, false
	}
	out := make([]byte, 0, 1<<16)
	var raws strippedRaws
	stripped := false
	node := 0
	for rest := g; len(rest) > 0; {
		num, typ, n := protowire.ConsumeField(rest)
		if n < 0 {
			return nil, strippedRaws{}, false
		}
		switch {
		case num == graphInitializerField && typ == protowire.BytesType:
			t, raw, ok := stripTensor(rest, minSize)
			if !ok {
				return nil, strippedRaws{}, false
			}
			stripped = stripped || raw != nil
			raws.inits = append(raws.inits, raw)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, t)
		case num == graphNodeField && typ == protowire.BytesType:
			nb, ok := stripNode(rest, minSize, node, &raws)
			if !ok {
				return nil, strippedRaws{}, false
			}
			node++
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, nb)
		default:
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	if !stripped {
		raws.inits = nil
	}
	return out, raws, true
}

// stripNode rewrites the NodeProto at the head of field, node of its
// graph, with the large raw_data of its TENSOR attributes left out and
// put in raws.
func stripNode(field []byte, minSize, node int, raws *strippedRaws) ([]byte, bool) {
	nb, ok := fieldBytes(field)
	if !ok {
		return nil, false
	}
	var out []byte // nil until an attribute is stripped: most nodes keep their bytes
	attr, copied := 0, 0
	for off := 0; off < len(nb); {
		num, typ, n := protowire.ConsumeField(nb[off:])
		if n < 0 {
			return nil, false
		}
		if num == nodeAttributeField && typ == protowire.BytesType {
			ab, raw, ok := stripAttribute(nb[off:], minSize)
			if !ok {
				return nil, false
			}
			if raw != nil {
				if raws.attrs == nil {
					raws.attrs = map[attrAt][]byte{}
				}
				raws.attrs[attrAt{node, attr}] = raw
				out = append(out, nb[copied:off]...)
				out = protowire.AppendTag(out, num, typ)
				out = protowire.AppendBytes(out, ab)
				copied = off + n
			}
			attr++
		}
		off += n
	}
	if out == nil {
		return nb, true
	}
	return append(out, nb[copied:]...), true
}

// stripAttribute returns the AttributeProto at the head of field without
// the raw_data of its tensor t when that is large, and the raw_data (nil
// when kept).
func stripAttribute(field []byte, minSize int) (attr, raw []byte, ok bool) {
	ab, ok := fieldBytes(field)
	if !ok {
		return nil, nil, false
	}
	tAt, tLen := -1, 0
	for off := 0; off < len(ab); {
		num, typ, n := protowire.ConsumeField(ab[off:])
		if n < 0 {
			return nil, nil, false
		}
		if num == attributeTensorField && typ == protowire.BytesType {
			if tAt >= 0 {
				return nil, nil, false
			}
			tAt, tLen = off, n
		}
		off += n
	}
	if tAt < 0 {
		return ab, nil, true
	}
	t, raw, ok := stripTensor(ab[tAt:], minSize)
	if !ok || raw == nil {
		return ab, nil, ok
	}
	out := make([]byte, 0, len(ab)-tLen+len(t)+8)
	out = append(out, ab[:tAt]...)
	out = append(out, ab[tAt+tLen:]...)
	out = protowire.AppendTag(out, attributeTensorField, protowire.BytesType)
	out = protowire.AppendBytes(out, t)
	return out, raw, true
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
