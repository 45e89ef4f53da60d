package quant

import "amq/onnx"

// Backend runs forward passes for calibration. amq's CLI provides one backed
// by sim (pure Go) or by the Ascend runtime; quant knows neither.
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
// once (an Ascend backend with several devices). Calibration then keeps up to
// Concurrency() batches in flight but merges their statistics in batch
// order, so that the result equals a one-device run.
type Concurrent interface {
	// Concurrency is the number of batches the backend can run at once.
	Concurrency() int
}

// DataSource provides calibration batches. Batches are produced on demand,
// so calibration never holds more than the batches in flight. Calibration
// calls Batch from one goroutine, in increasing order, even when a
// Concurrent backend runs several batches at once, so a source need not be
// safe for concurrent use.
type DataSource interface {
	// Len is the number of batches available.
	Len() int
	// Batch returns batch i (0 <= i < Len()) as graph inputs by name.
	Batch(i int) (map[string]*onnx.Tensor, error)
}
