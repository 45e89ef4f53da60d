package sim

import (
	"fmt"

	"amq/onnx"
)

// watcher hands the tensors a run watches to the caller's observe function
// as they are computed (Session.RunObserved).
type watcher struct {
	observe func(name string, t *onnx.Tensor) error
	pending map[string]bool // watched tensors not yet handed over
	order   []string        // the watched tensors, as the caller listed them
}

// newWatcher checks req's watched tensors and hands over those the run
// starts with (graph inputs and initializers, in env). It returns nil when
// nothing is watched; a nil watcher watches nothing.
func (s *Session) newWatcher(env map[string]*onnx.Tensor, req runRequest) (*watcher, error) {
	if len(req.watch) == 0 {
		return nil, nil
	}
	if req.observe == nil {
		return nil, fmt.Errorf("tensors to watch but no function to observe them")
	}
	w := &watcher{observe: req.observe, pending: make(map[string]bool, len(req.watch)), order: req.watch}
	for _, name := range req.watch {
		if !s.known[name] {
			return nil, fmt.Errorf("tensor %q to observe is not defined in the graph", name)
		}
		w.pending[name] = true
	}
	for _, name := range req.watch {
		if t, ok := env[name]; ok && w.pending[name] {
			if err := w.produced(name, t); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// watched reports whether name is still to be handed over.
func (w *watcher) watched(name string) bool { return w != nil && w.pending[name] }

// produced hands t over when it is watched.
func (w *watcher) produced(name string, t *onnx.Tensor) error {
	if !w.watched(name) {
		return nil
	}
	delete(w.pending, name)
	// The error is the observer's own: the run adds nothing, so that a
	// caller's message reads the same whether the tensor came this way or
	// in Run's result.
	return w.observe(name, t)
}

// done fails when a watched tensor was never computed.
func (w *watcher) done() error {
	if w == nil {
		return nil
	}
	for _, name := range w.order {
		if w.pending[name] {
			return fmt.Errorf("tensor %q was not computed", name)
		}
	}
	return nil
}
