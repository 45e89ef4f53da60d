package onnx

import "amq/onnx/onnxpb"

// Model is an ONNX model: the graph plus the model-level fields amq reads.
// Fields it does not model (functions, training info) are carried through
// Save unchanged.
type Model struct {
	IRVersion       int64            // ONNX IR version of the file format
	Opsets          map[string]int64 // domain ("" is ai.onnx) -> opset version
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Metadata        map[string]string // metadata_props, key -> value
	Graph           *Graph            // the main graph

	// rest holds the ModelProto fields that the IR does not represent.
	rest *onnxpb.ModelProto
	// mapped are the files LoadFile mapped, which tensors alias.
	mapped [][]byte
}

// PageOutWeights tells the kernel that the memory-mapped files the model's
// weights lie in (see LoadFile) will not be read for a while: their pages
// leave the process's resident memory now and are read from the file again
// when used. The flow calls it when it has copied the weights it works on,
// so that the originals and the copies are not both resident. Clones share
// the mappings; the model stays valid.
func (m *Model) PageOutWeights() {
	for _, b := range m.mapped {
		pageOut(b)
	}
}

// Opset returns the version of the default (ai.onnx) operator set.
func (m *Model) Opset() int64 {
	if v, ok := m.Opsets[""]; ok {
		return v
	}
	return m.Opsets["ai.onnx"]
}

// Clone returns a deep copy of m: graph structure, attributes and tensors.
func (m *Model) Clone() *Model { return m.clone(false) }

// CloneShared is Clone whose initializers share their elements with m's
// (see Graph.CloneShared): a copy of the graph to rewrite, not of the
// weights.
func (m *Model) CloneShared() *Model { return m.clone(true) }

func (m *Model) clone(shareData bool) *Model {
	c := *m
	c.Opsets = make(map[string]int64, len(m.Opsets))
	for k, v := range m.Opsets {
		c.Opsets[k] = v
	}
	if m.Metadata != nil {
		c.Metadata = make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			c.Metadata[k] = v
		}
	}
	c.Graph = m.Graph.clone(shareData)
	return &c
}
