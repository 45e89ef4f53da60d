package sim

import (
	"sync/atomic"

	"amq/onnx"
)

// A MatMul whose B is a constant (a Linear layer's weight) packs B once
// into the strips the micro-kernel reads (matrix.strips) and keeps them
// with the session. Otherwise every run either packs B again, once per
// worker, or, for up to directB rows of A, reads it in place with rows a
// page apart, which costs the kernel part of its speed. The product's
// bits are those of sgemm: the same kernel over the same k blocks.

// packBudget bounds the initializers of a graph whose MatMul weights are
// packed, in bytes: a packed copy doubles the memory of the weights, which
// LLM-sized models cannot afford (they read theirs in place).
const packBudget = 256 << 20

// packedB is a k x n matrix B packed as strips of nr columns over the
// whole k, for the micro-kernel kern, and what it was packed from.
type packedB struct {
	kern string
	k, n int
	src  *float32
	data []float32
}

// packsWeights reports whether a MatMul of graph g with B = name packs B:
// B is a float32 initializer and all of g's initializers fit packBudget.
func packsWeights(g *onnx.Graph, name string) bool {
	if !isInitializer(g, name) {
		return false
	}
	if _, ok := g.Initializers[name].Data.([]float32); !ok {
		return false
	}
	total := 0
	for _, t := range g.Initializers {
		if total += 4 * onnx.NumElems(t.Shape); total > packBudget {
			return false
		}
	}
	return true
}

// packedWeight returns the row-major bd (k x n) packed for the active
// kernel, from the cache when it holds that data already.
func packedWeight(cache *atomic.Pointer[packedB], bd []float32, k, n int) *packedB {
	return packedGemmWeight(cache, matrix{data: bd, ld: n}, k, n)
}

// multiply writes A·B (+ bias, one value per column, when not nil) into
// y, m x n with row stride n, for A m x k with row stride k. The kernel
// adds the bias to each tile after its last block of k, while the tile
// is in registers; the workers split the rows, or the columns when the
// rows are few.
func (p *packedB) multiply(a []float32, m int, y, bias []float32, threads int) {
	kern := activeKernel
	k, n, mr, nr := p.k, p.n, kern.mr, kern.nr
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			if bias != nil {
				copy(y[i*n:(i+1)*n], bias)
			} else {
				clear(y[i*n : (i+1)*n])
			}
		}
		return
	}
	band := func(i0, i1, j0, j1 int) {
		b := matrix{data: p.data[j0*k:], strips: true}
		ep := &epilogue{fromZero: true}
		if bias != nil {
			ep.colBias = bias[j0:j1]
		}
		sgemmSerial(kern, i1-i0, j1-j0, k, 1, matrix{data: a[i0*k:], ld: k}, nil, 0, b, y[i0*n+j0:], n, ep)
	}
	splitBands(m, n, k, mr, nr, threads, band)
}

// splitBands runs band over the m x n product of a packed B on up to
// threads workers: bands of rows when there are enough for every worker
// (each then packs only its own rows of A, where with a column split
// every worker packs all of them, and they share the packed B), of
// columns otherwise.
func splitBands(m, n, k, mr, nr, threads int, band func(i0, i1, j0, j1 int)) {
	threads = max(1, min(threads, m*n*k/(64*64*64)+1))
	if threads == 1 {
		band(0, m, 0, n)
		return
	}
	if m < 4*mr*threads {
		parallelFor(threads, (n+nr-1)/nr, 1, func(lo, hi int) { band(0, m, lo*nr, min(hi*nr, n)) })
		return
	}
	parallelFor(threads, (m+mr-1)/mr, 1, func(lo, hi int) { band(lo*mr, min(hi*mr, m), 0, n) })
}

// addRow adds b to o element by element (o[i] += b[i]).
func addRow(o, b []float32) {
	arithRow(opAdd, o, o, b)
}
