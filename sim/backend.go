package sim

import (
	"fmt"
	"sync"

	"amq/backend"
	"amq/onnx"
)

// The sim backend, opened by name through package backend.
func init() {
	backend.Register("sim", func(opt backend.Options) (backend.Backend, error) {
		if _, err := backend.ParsePrecision(string(opt.Precision)); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		return &Backend{Threads: opt.Threads, Precision: opt.Precision}, nil
	})
}

// Backend runs models on sim for amq's calibration flow: it implements
// backend.Backend. The zero value uses all cores.
type Backend struct {
	// Threads bounds the goroutines one operator uses; 0 means all cores.
	Threads int
	// Precision is the ATC precision mode to emulate (Options.Precision).
	Precision Precision
}

var _ backend.Backend = (*Backend)(nil)

// Prepare creates a session for model. Observed tensors are checked against
// the graph now, so that a typo fails before any batch runs.
func (b *Backend) Prepare(model *onnx.Model, observe []string) (backend.Runner, error) {
	s, err := NewSession(model, &Options{Threads: b.Threads, Precision: b.Precision})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	for _, name := range observe {
		if name == "" || !s.known[name] {
			return nil, fmt.Errorf("sim: tensor %q to observe is not defined in the graph", name)
		}
	}
	return &runner{s: s, observe: append([]string(nil), observe...), fp16: &fp16Totals{}}, nil
}

// runner is a prepared session with its observed tensors. It is safe for
// concurrent use, as Session is.
type runner struct {
	s       *Session
	observe []string
	fp16    *fp16Totals
}

var (
	_ backend.FP16Reporter = (*runner)(nil)
	_ backend.Observer     = (*runner)(nil)
)

// Run executes one batch and returns the graph outputs and observed tensors.
func (r *runner) Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return r.run(inputs, runRequest{fetch: r.observe})
}

// run executes one batch as req asks and adds its float16 statistics to
// the runner's totals.
func (r *runner) run(inputs map[string]*onnx.Tensor, req runRequest) (map[string]*onnx.Tensor, error) {
	req.wantStats = true
	res, stats, err := r.s.run(inputs, req)
	if err == nil {
		r.fp16.add(stats)
	}
	return res, err
}

// RunObserved executes one batch, handing each observed tensor to observe
// as soon as it is computed (Session.RunObserved); the result holds the
// graph outputs.
func (r *runner) RunObserved(inputs map[string]*onnx.Tensor, observe func(name string, t *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	return r.run(inputs, runRequest{watch: r.observe, observe: observe})
}

// FP16Stats returns what the precision mode's float16 rounding did, per
// tensor, summed over every Run so far; nil when the mode rounds nothing.
func (r *runner) FP16Stats() []FP16Stat { return r.fp16.list() }

// Close lets go of the buffers the session keeps between runs.
func (r *runner) Close() error {
	r.s.Release()
	return nil
}

// fp16Totals sums FP16Stats over runs, keeping the order in which tensors
// first appeared. It is safe for concurrent use.
type fp16Totals struct {
	mu    sync.Mutex
	stats []FP16Stat
	index map[[2]string]int // by node and tensor
}

func (t *fp16Totals) add(stats []FP16Stat) {
	if len(stats) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == nil {
		t.index = map[[2]string]int{}
	}
	for _, s := range stats {
		k := [2]string{s.Node, s.Tensor}
		i, ok := t.index[k]
		if !ok {
			t.index[k] = len(t.stats)
			t.stats = append(t.stats, s)
			continue
		}
		p := &t.stats[i]
		p.Elements += s.Elements
		p.Overflow += s.Overflow
		p.Underflow += s.Underflow
		p.MaxAbs = max(p.MaxAbs, s.MaxAbs)
	}
}

func (t *fp16Totals) list() []FP16Stat {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stats == nil {
		return nil
	}
	return append([]FP16Stat(nil), t.stats...)
}
