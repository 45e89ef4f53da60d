// Package ort runs ONNX models in ONNX Runtime, the reference that amq
// checks sim and its fake-quant models against and measures sim's speed by.
//
// It wraps github.com/yalue/onnxruntime_go, which loads ONNX Runtime's shared
// library at run time. The library is found through the environment variable
// ONNXRUNTIME_LIB, else at $HOME/.cache/amq/onnxruntime-1.24.3/libonnxruntime.so.1,
// where scripts/fetch-ort.sh puts it. The package needs cgo; built without
// it, every function returns an error.
package ort

import (
	"os"
	"path/filepath"
)

// Version is the ONNX Runtime release whose C API the bindings target.
const Version = "1.24.3"

// Options configures a Session.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 lets ONNX Runtime
	// choose (one per physical core).
	Threads int
	// NoOptimize disables ONNX Runtime's graph optimizations (fusions,
	// constant folding), to run the graph exactly as written.
	NoOptimize bool
}

// LibraryPath returns the path of the ONNX Runtime library the package
// loads: $ONNXRUNTIME_LIB, else the cache path that scripts/fetch-ort.sh
// fills.
func LibraryPath() string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.Getenv("HOME")
	}
	return filepath.Join(home, ".cache", "amq", "onnxruntime-"+Version, "libonnxruntime.so.1")
}
