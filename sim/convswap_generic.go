//go:build !amd64 || purego

package sim

// swapRowsFast is false: swapped convolutions pack X^T in Go here.
var swapRowsFast = false

func swapRows8(dst, src []float32, offs []int, idx *[16]int32, kc, off2 int) { panic("unreachable") }

func swapRowsOne(dst, src []float32, woff []int, shift []int32, idx *[16]int32, kc int) {
	panic("unreachable")
}

// transpose8Fast is false: transposeBlock moves values one by one here.
var transpose8Fast = false

func transpose8(dst []float32, ldd int, src []float32, lds, cols int) { panic("unreachable") }
