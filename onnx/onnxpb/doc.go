// Package onnxpb holds the Go types generated from onnx.proto, amq's
// schema of the ONNX model format (ModelProto, GraphProto, NodeProto,
// TensorProto, ...) with the specification's field numbers, so that any
// ONNX file decodes with it.
//
// Most code should use package onnx, whose IR (Model, Graph, Node, Tensor)
// is built from and back into these messages; this package is the wire
// format. Regenerate it with scripts/gen-proto.sh after editing the schema.
package onnxpb
