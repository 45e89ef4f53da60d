package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"amq/onnx"
	"amq/quant"
	"amq/sim"
)

// backendOptions are the command-line settings every backend receives.
type backendOptions struct {
	// Threads bounds the CPU threads a backend uses; 0 means all cores.
	Threads int
	// Devices lists the NPU devices to run on; nil means the backend's
	// default. Backends without devices ignore it.
	Devices []int
}

// backendFlags are the flags that choose and configure a backend. Every
// command that runs a model registers them, so --backend, --threads,
// --device and --devices mean the same everywhere.
type backendFlags struct {
	name    string
	threads int
	device  int
	devices string
}

// add registers the flags; def is the default backend.
func (f *backendFlags) add(fl *pflag.FlagSet, def string) {
	fl.StringVar(&f.name, "backend", def, "backend to run on: "+strings.Join(backendNames(), ", "))
	fl.IntVar(&f.threads, "threads", 0, "CPU threads to use (0: all cores)")
	fl.IntVar(&f.device, "device", -1, "NPU device id (ascend backend; default 0)")
	fl.StringVar(&f.devices, "devices", "", "NPU device ids to shard batches across, such as 0,1,2,3 (ascend backend)")
}

// options checks the flags and returns the backend settings they give.
func (f *backendFlags) options() (backendOptions, error) {
	opt := backendOptions{Threads: f.threads}
	if f.threads < 0 {
		return opt, fmt.Errorf("--threads %d: must be 0 or more", f.threads)
	}
	switch {
	case f.devices != "" && f.device >= 0:
		return opt, fmt.Errorf("--device and --devices: give one of them")
	case f.devices != "":
		d, err := parseDevices(f.devices)
		if err != nil {
			return opt, fmt.Errorf("--devices: %w", err)
		}
		opt.Devices = d
	case f.device >= 0:
		opt.Devices = []int{f.device}
	case f.device < -1:
		return opt, fmt.Errorf("--device %d: must be 0 or more", f.device)
	}
	return opt, nil
}

// open creates the backend the flags name.
func (f *backendFlags) open() (quant.Backend, error) {
	opt, err := f.options()
	if err != nil {
		return nil, err
	}
	return newBackend(f.name, opt)
}

// parseDevices reads a device list such as "0,1".
func parseDevices(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad device id %q in %q", f, s)
		}
		if seen[d] {
			return nil, fmt.Errorf("device %d is listed twice in %q", d, s)
		}
		seen[d] = true
		out = append(out, d)
	}
	return out, nil
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
