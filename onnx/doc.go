// Package onnx reads, edits and writes ONNX models for amq.
//
// The package has four parts that build on each other:
//
//   - Tensors. Tensor holds a shape and a typed Go slice (Data is
//     []float32, []int64, []int8, ... as DataType says). NewTensor, Zeros,
//     Data and Clone create and access them; TensorFromProto and ToProto
//     convert from and to TensorProto, decoding raw and typed data and
//     float16.
//
//   - Model I/O (load.go, save.go). LoadFile decodes a Model (model.go)
//     and reads initializers stored as external data relative to the
//     model's directory; Load does the same from bytes (no external data).
//     Model.Save writes atomically (temporary files renamed into place),
//     moving large initializers to a "<model>.data" file on request or when
//     the model would exceed the 2 GiB protobuf limit. Fields the IR does
//     not model are carried through. Large models load at the speed of
//     the disk: LoadFile uses raw_data in place (rawscan.go, alias.go) and
//     maps files of 64 MiB and more (mmap_*.go, mapped.go); Save streams
//     tensor by tensor (encode.go); CloneShared copies a model but not its
//     weights (docs/design.md "Loading large models").
//
//   - Graph IR and rewrites. Graph keeps Nodes in topological order with
//     Inputs, Outputs, Initializers and ValueInfo. Producer, Consumers, Node
//     and Constant answer queries through an index that the rewrite methods
//     (InsertNode, InsertBefore, SetInput, SetOutput, RemoveNode,
//     ReplaceUses, SetInitializer, AddOutput) keep current, the first four
//     in place (index.go), so that a rewrite inserting a node per layer
//     stays linear; UniqueName gives fresh names for inserted nodes and
//     tensors, and TopoSort restores order after bulk edits.
//
//   - Shape inference (shape.go and shape_*.go, one function per
//     operator). InferShapes computes the concrete shape of every tensor
//     from input shapes, folding the small shape computations that
//     exporters emit (Shape, Gather, Concat, Reshape, ...); InferValueInfo
//     stores the result in Graph.ValueInfo.
//
// The wire types generated from the ONNX schema live in package onnxpb.
package onnx
