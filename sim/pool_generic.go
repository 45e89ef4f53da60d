//go:build !amd64 || purego

package sim

func maxRowVec(o, src []float32, ld, rows, k, stride int) bool { return false }

func maxRowKernels() []func(o, src *float32, n, ld, rows, k, stride int) { return nil }

func maxRowWith(fn func(o, src *float32, n, ld, rows, k, stride int), o, src []float32, ld, rows, k, stride int) bool {
	return false
}
