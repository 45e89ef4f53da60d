//go:build !amd64 || purego

package sim

// availableKernels lists the kernels this machine can run, fastest last.
func availableKernels() []microKernel { return []microKernel{goKernel} }

// im2colFastNR is 0: im2colRange always uses its Go loops here.
const im2colFastNR = 0

func im2colSegsFast(dst, src []float32, segs []im2colSeg, stride int) { panic("unreachable") }
