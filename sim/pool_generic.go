//go:build !amd64 || purego

package sim

func maxRowVec(o, src []float32, ld, rows, k, stride int) bool { return false }
