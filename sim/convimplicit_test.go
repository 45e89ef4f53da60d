package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestKeptColumnsCopiesOutputPositions checks keptColumns, with
// im2colSegsFast's pieces of 32 and 16 where the machine has them and
// with copy calls, against the definition: column q of a chunk is output
// (q/wq, q%wq) when q%wq < out2, and nothing else is written; for chunks
// that start and end inside virtual rows, rows wider than a piece, and
// dropped columns at a chunk's start.
func TestKeptColumnsCopiesOutputPositions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	type spec struct{ rows, out1, out2, wq, j0, j1 int }
	specs := []spec{
		{3, 7, 7, 9, 0, 63},
		{2, 14, 14, 16, 5, 200},
		{4, 16, 112, 115, 100, 1000},
		{1, 5, 40, 43, 41, 215},
		{2, 3, 33, 34, 0, 102},
	}
	for si, sp := range specs {
		nw := sp.j1 - sp.j0
		outN := sp.out1 * sp.out2
		blk := randFloats(r, sp.rows*nw)
		want := make([]float32, sp.rows*outN)
		fill(want, -1)
		for i := range sp.rows {
			for q := sp.j0; q < sp.j1; q++ {
				if oh, ow := q/sp.wq, q%sp.wq; ow < sp.out2 {
					want[i*outN+oh*sp.out2+ow] = blk[i*nw+q-sp.j0]
				}
			}
		}
		for _, nr := range []int{32, 16, 0} {
			if nr > 0 && !im2colFast(nr) {
				continue
			}
			got := make([]float32, len(want))
			fill(got, -1)
			keptColumns(got, blk, sp.rows, sp.j0, sp.j1, outN, sp.out2, sp.wq, nr)
			compareBits(t, fmt.Sprintf("spec %d nr %d", si, nr), got, want)
		}
	}
}
