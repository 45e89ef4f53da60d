package backend

import "amq/onnx"

// Observer is implemented by runners that can hand each observed tensor to
// the caller the moment they compute it, instead of returning all of them
// when the batch is done (sim does). A caller that folds the tensors into
// statistics then needs the memory of one forward pass, however many
// tensors it observes, since the engine reuses a tensor's memory once the
// caller has seen it; with Run, every observed tensor of a batch is alive
// at the end of the batch. Callers check for the interface, as
// database/sql does for a driver's optional interfaces, and use Run when a
// runner lacks it.
type Observer interface {
	// RunObserved executes one batch and calls observe once for every
	// tensor named in Prepare's observe list, in the order the engine
	// computes them, from the goroutine that called RunObserved. t is
	// valid only during the call: observe must not keep it or its data.
	// The result holds the graph outputs. An error from observe stops the
	// batch and is returned as it is.
	RunObserved(inputs map[string]*onnx.Tensor, observe func(name string, t *onnx.Tensor) error) (map[string]*onnx.Tensor, error)
}
