//go:build !amd64 || purego

package sim

// availableIKernels lists the int8 kernels this build can run: none, so
// deploy layers use the exact float path.
func availableIKernels() []*igemmKernel { return nil }

// quantRoundVec does nothing in this build: ascend.go's loop does all.
func quantRoundVec(y []int8, x []float32, scale, offset float32) int { return 0 }

// dequantVec does nothing in this build: ascend.go's loop does all.
func dequantVec(y []float32, x []int32, scale float32, mode int) int { return 0 }

// dequantColsVec does nothing in this build: ascend.go's loop does all.
func dequantColsVec(y []float32, x []int32, s []float32, mode int) int { return 0 }
