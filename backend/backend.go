package backend

import "amq/onnx"

// Backend runs forward passes of ONNX models.
type Backend interface {
	// Prepare readies model for execution with the tensors in observe
	// exposed besides the graph outputs. The model must not be changed
	// while the returned Runner is in use.
	Prepare(model *onnx.Model, observe []string) (Runner, error)
}

// Runner executes a prepared model on batches.
type Runner interface {
	// Run executes one batch. The result maps every observed tensor and
	// graph output to its value.
	Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error)
	// Close releases the runner's resources.
	Close() error
}

// Concurrent is implemented by backends that can run several batches at
// once (an Ascend backend with several devices). Calibration then keeps up
// to Concurrency() batches in flight but merges their statistics in batch
// order, so that the result equals a one-device run.
type Concurrent interface {
	// Concurrency is the number of batches the backend can run at once.
	Concurrency() int
}

// ShapeCompiler is implemented by backends that compile a model for each
// set of input shapes (Ascend's ATC): a batch of a new size costs a
// compilation, so the flow gives them whole calibration batches only.
// Backends without it take any batch size at no extra cost.
type ShapeCompiler interface {
	// CompilesPerShape reports whether a new input shape costs a
	// compilation.
	CompilesPerShape() bool
}
