//go:build !amd64 || purego

package sim

// availableIKernels lists the int8 kernels this build can run: none, so
// deploy layers use the exact float path.
func availableIKernels() []*igemmKernel { return nil }
