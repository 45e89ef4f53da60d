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
