//go:build !amd64 || purego

package sim

// availableKernels lists the kernels this machine can run, fastest last.
func availableKernels() []microKernel { return []microKernel{goKernel} }

// im2colFast is false: im2colRange always uses its Go loops here.
func im2colFast(nr int) bool { return false }

func im2colSegsFast(dst, src []float32, segs []im2colSeg, stride, nr int) { panic("unreachable") }

func im2colCopyFast(dst, src []float32, segs []im2colCopy) { panic("unreachable") }

// packA8Fast packs nothing: packA8 uses its Go loop.
func packA8Fast(strip, src []float32, ld, kc int, alpha float32) int { return 0 }
