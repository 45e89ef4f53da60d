package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"amq/backend"
	_ "amq/cann" // the "ascend" backend
	_ "amq/sim"  // the "sim" backend
)

// backendFlags are the flags that choose and configure a backend. Every
// command that runs a model registers them, so --backend, --threads,
// --device and --devices mean the same everywhere.
type backendFlags struct {
	name      string
	threads   int
	device    int
	devices   string
	precision string // --precision, on the commands that register it
}

// add registers the flags; def is the default backend.
func (f *backendFlags) add(fl *pflag.FlagSet, def string) {
	fl.StringVar(&f.name, "backend", def, "backend to run on: "+strings.Join(backend.Names(), ", "))
	fl.IntVar(&f.threads, "threads", 0, "CPU threads to use (0: all cores)")
	fl.IntVar(&f.device, "device", -1, "NPU device id (ascend backend; default 0)")
	fl.StringVar(&f.devices, "devices", "", "NPU device ids to shard batches across, such as 0,1,2,3 (ascend backend)")
}

// options checks the flags and returns the backend settings they give.
func (f *backendFlags) options() (backend.Options, error) {
	opt := backend.Options{Threads: f.threads}
	if f.threads < 0 {
		return opt, fmt.Errorf("--threads %d: must be 0 or more", f.threads)
	}
	p, err := backend.ParsePrecision(f.precision)
	if err != nil {
		return opt, fmt.Errorf("--precision: %w", err)
	}
	opt.Precision = p
	switch {
	case f.devices != "" && f.device >= 0:
		return opt, fmt.Errorf("--device and --devices: give one of them")
	case f.devices != "":
		d, err := backend.ParseDevices(f.devices)
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
func (f *backendFlags) open() (backend.Backend, error) {
	opt, err := f.options()
	if err != nil {
		return nil, err
	}
	return openBackend(f.name, opt)
}

// knownBackends are names amq defines even when this binary lacks them.
var knownBackends = map[string]string{
	"ascend": "the Ascend NPU runtime (CANN ACL)",
}

// openBackend opens the backend a --backend flag names, telling a name amq
// knows but this binary lacks from an unknown one.
func openBackend(name string, opt backend.Options) (backend.Backend, error) {
	if what, ok := knownBackends[name]; ok && !backend.Registered(name) {
		return nil, fmt.Errorf("backend %q is not built into this amq binary; it needs %s (available: %s)", name, what, strings.Join(backend.Names(), ", "))
	}
	return backend.Open(name, opt)
}
