//go:build !amd64 || purego

package sim

// availableKernels lists the kernels this machine can run, fastest last.
func availableKernels() []microKernel { return []microKernel{goKernel} }
