package sim

import (
	"fmt"

	"amq/backend"
	"amq/onnx"
)

// The sim backend, opened by name through package backend.
func init() {
	backend.Register("sim", func(opt backend.Options) (backend.Backend, error) {
		return &Backend{Threads: opt.Threads}, nil
	})
}

// Backend runs models on sim for amq's calibration flow: it implements
// backend.Backend. The zero value uses all cores.
type Backend struct {
	// Threads bounds the goroutines one operator uses; 0 means all cores.
	Threads int
}

var _ backend.Backend = (*Backend)(nil)

// Prepare creates a session for model. Observed tensors are checked against
// the graph now, so that a typo fails before any batch runs.
func (b *Backend) Prepare(model *onnx.Model, observe []string) (backend.Runner, error) {
	s, err := NewSession(model, &Options{Threads: b.Threads})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	g := model.Graph
	defined := map[string]bool{}
	for name := range g.Initializers {
		defined[name] = true
	}
	for _, in := range g.Inputs {
		defined[in.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	for _, name := range observe {
		if name == "" || !defined[name] {
			return nil, fmt.Errorf("sim: tensor %q to observe is not defined in the graph", name)
		}
	}
	return &runner{s: s, observe: append([]string(nil), observe...)}, nil
}

// runner is a prepared session with its observed tensors. It is safe for
// concurrent use, as Session is.
type runner struct {
	s       *Session
	observe []string
}

// Run executes one batch and returns the graph outputs and observed tensors.
func (r *runner) Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return r.s.Run(inputs, r.observe...)
}

// Close releases nothing: a session holds only Go memory.
func (r *runner) Close() error { return nil }
