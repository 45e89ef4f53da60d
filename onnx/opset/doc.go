// Package opset upgrades ONNX models written for the default-domain
// (ai.onnx) operator sets 7 to 10 to opset 11, the oldest opset amq's flow
// works on: its fake-quant models need Round, new in opset 11, and sim and
// the quantization rewrites know the opset-11 forms of the operators.
//
// Upgrade gives every node of the main graph its opset-11 form (see
// docs/design.md "Old opsets"):
//
//   - Clip (opset 6): the min and max attributes become scalar constant
//     inputs of the input's element type;
//   - Slice (opset 1, before 10): starts, ends and axes become int64
//     constant inputs;
//   - Pad (opset 2): pads becomes an int64 input, value a constant_value
//     input (omitted when 0); mode stays;
//   - TopK (opset 1, before 10): k becomes the int64 input K;
//   - Upsample (opsets 7 and 9): a Resize with an empty roi, the same
//     scales (a constant input when they were an attribute) and asymmetric
//     coordinates (x_in = x_out / scale); nearest rounds down;
//   - Resize (opset 10): the same, with the roi input added; nearest rounds
//     as ONNX Runtime's opset-10 kernel does: down when every scale is at
//     least 1, up when every scale is at most 1;
//   - BatchNormalization (opset 7, before 9): spatial (only 1 has an
//     opset-11 form) and the stale is_test and consumed_inputs go;
//   - Dropout (opset 7, before 10): a stale is_test goes; ratio stays;
//   - Scatter (opsets 9 and 10): ScatterElements, the same operator under
//     its opset-11 name.
//
// Every other operator of opsets 7 to 10 means the same at opset 11 (the
// later versions only accept more types, negative axes or optional
// inputs), so it keeps its inputs and attributes. Node names, operator
// order and tensor names stay: layer names, which configs and records key
// on, are node names. New constants are initializers named after their
// node and input ("/Clip.min").
//
// What cannot be converted is collected over the whole graph and returned
// as one *Error naming every node and the reason, so that a model is
// refused before any work is done on it.
package opset
