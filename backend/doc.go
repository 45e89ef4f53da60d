// Package backend is the contract between amq's quantization flow and the
// engines that run ONNX models, as database/sql/driver is for database/sql.
//
// An engine (sim, the pure-Go executor; cann, the Ascend NPU) implements
// Backend and Runner, and Concurrent when it can run several batches at
// once, and registers itself under a name from an init function. The flow
// (package quant) sees only these interfaces; amq's CLI opens a backend by
// the name a user gives with Open.
package backend
