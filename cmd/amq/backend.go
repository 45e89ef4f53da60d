package main

import (
	"fmt"
	"sort"
	"strings"

	"amq/onnx"
	"amq/quant"
	"amq/sim"
)

// backendOptions are the command-line settings every backend receives.
type backendOptions struct {
	// Threads bounds the CPU threads a backend uses; 0 means all cores.
	Threads int
}

// backends maps a --backend name to its constructor. A backend that needs
// optional build dependencies (the Ascend runtime) adds itself from an init
// function in a file of its own, so a binary built without it reports the
// name as not built in.
var backends = map[string]func(backendOptions) (quant.Backend, error){
	"sim": func(opt backendOptions) (quant.Backend, error) { return &simBackend{threads: opt.Threads}, nil },
}

// knownBackends are names amq defines even when this binary lacks them.
var knownBackends = map[string]string{
	"ascend": "the Ascend NPU runtime (CANN ACL)",
}

// registerBackend makes a backend available under name; it is called from
// init functions.
func registerBackend(name string, f func(backendOptions) (quant.Backend, error)) {
	if _, dup := backends[name]; dup {
		panic("amq: backend registered twice: " + name)
	}
	backends[name] = f
}

// backendNames lists the backends built into this binary, sorted.
func backendNames() []string {
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// newBackend creates the backend a --backend flag names.
func newBackend(name string, opt backendOptions) (quant.Backend, error) {
	if f, ok := backends[name]; ok {
		return f(opt)
	}
	avail := strings.Join(backendNames(), ", ")
	if what, ok := knownBackends[name]; ok {
		return nil, fmt.Errorf("backend %q is not built into this amq binary; it needs %s (available: %s)", name, what, avail)
	}
	return nil, fmt.Errorf("unknown backend %q (available: %s)", name, avail)
}

// simBackend runs models on sim, the pure-Go executor.
type simBackend struct {
	threads int
}

// Prepare creates a sim session for model. Observed tensors are checked
// against the graph now, so that a typo fails before any batch runs.
func (b *simBackend) Prepare(model *onnx.Model, observe []string) (quant.Runner, error) {
	s, err := sim.NewSession(model, &sim.Options{Threads: b.threads})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defined := map[string]bool{}
	g := model.Graph
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
	return &simRunner{s: s, observe: append([]string(nil), observe...)}, nil
}

// simRunner is a prepared sim session. It is safe for concurrent use, as
// sim.Session is.
type simRunner struct {
	s       *sim.Session
	observe []string
}

// Run executes one batch and returns the graph outputs and observed tensors.
func (r *simRunner) Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return r.s.Run(inputs, r.observe...)
}

// Close releases nothing: a sim session holds only Go memory.
func (r *simRunner) Close() error { return nil }
