//go:build !amd64 || purego

package sim

// Without vector kernels every elementwise loop is Go's.
const haveVec = false

func arithVecN(op arithOp, o, a, b []float32, n int) int { return 0 }

func axpyVec(o, x []float32, s float32) {}

func clipVec(o, x []float32, lo, hi float32) {}
