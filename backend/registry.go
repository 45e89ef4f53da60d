package backend

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Options are the settings every backend receives when it is opened; a
// backend ignores those that do not apply to it.
type Options struct {
	// Threads bounds the CPU threads a backend uses; 0 means all cores.
	Threads int
	// Devices lists the NPU devices to run on; nil means the backend's
	// default.
	Devices []int
	// Precision is ATC's precision mode to compile with (ascend) or to
	// emulate (sim); PrecisionDefault keeps each backend's default.
	Precision Precision
}

// OpenFunc creates a backend with the given options.
type OpenFunc func(Options) (Backend, error)

var (
	mu       sync.RWMutex
	registry = map[string]OpenFunc{}
)

// Register makes a backend available under name. It is meant to be called
// from the init function of the backend's package and panics if name is
// registered twice or open is nil, as sql.Register does.
func Register(name string, open OpenFunc) {
	mu.Lock()
	defer mu.Unlock()
	if open == nil {
		panic("backend: Register of a nil OpenFunc for " + name)
	}
	if _, dup := registry[name]; dup {
		panic("backend: Register called twice for " + name)
	}
	registry[name] = open
}

// Names lists the registered backends, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// Registered reports whether a backend is registered under name.
func Registered(name string) bool {
	mu.RLock()
	defer mu.RUnlock()
	_, ok := registry[name]
	return ok
}

// Open creates the backend registered under name.
func Open(name string, opt Options) (Backend, error) {
	mu.RLock()
	open, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown backend %q (available: %s)", name, strings.Join(Names(), ", "))
	}
	return open(opt)
}

// ParseDevices reads a device list such as "0,1": non-negative ids, none
// twice.
func ParseDevices(s string) ([]int, error) {
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
