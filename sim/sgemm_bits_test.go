package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// fma32 is a float32 fused multiply-add: a*b is exact in float64 and the
// sum is rounded once more than the hardware's single rounding, which can
// differ only when the float64 sum lies exactly halfway between two
// float32 values (about one case in 2^29).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// fmaReference is the result the FMA kernels must give bit for bit:
// each element of C starts from start(i, j) and gets, for every block of
// gemmKC values of k in order, that block's sum, accumulated with FMA
// from +0 in order of k; then Relu when relu is set.
func fmaReference(m, n, k int, at, bt func(i, j int) float32, start func(i, j int) float32, relu bool) []float32 {
	out := make([]float32, m*n)
	for i := range m {
		for j := range n {
			v := start(i, j)
			for pc := 0; pc < k; pc += gemmKC {
				var acc float32
				for p := pc; p < min(k, pc+gemmKC); p++ {
					acc = fma32(at(i, p), bt(p, j), acc)
				}
				v += acc
			}
			if relu {
				v = max(v, 0)
			}
			out[i*n+j] = v
		}
	}
	return out
}

// bitsCase is one product of TestSgemmFMAKernelsGiveReferenceBits: its
// operands and C's contents before.
type bitsCase struct {
	m, n, k int
	a, b, c []float32
	bias    []float32
}

func newBitsCase(r *rand.Rand, m, n, k int, special bool) bitsCase {
	bc := bitsCase{m: m, n: n, k: k, a: randFloats(r, m*k), b: randFloats(r, k*n), c: randFloats(r, m*n), bias: randFloats(r, m)}
	if special {
		// A NaN row of A, an infinite column of B, a row and a bias that
		// give -0.
		bc.a[r.IntN(m)*k+r.IntN(k)] = float32(math.NaN())
		bc.b[r.IntN(k)*n+r.IntN(n)] = float32(math.Inf(-1))
		i := r.IntN(m)
		clear(bc.a[i*k : (i+1)*k])
		bc.bias[i] = float32(math.Copysign(0, -1))
	}
	return bc
}

// TestSgemmFMAKernelsGiveReferenceBits checks that every FMA kernel, on
// every path of sgemmSerial (A packed per call or in advance, transposed
// or not; B read in place, packed per call, transposed, already in strips
// or at row offsets; bias and Relu epilogues; one and two threads), gives
// the bits of fmaReference, over every row and column count around the
// kernels' mr and nr, k around multiples of the unrolling and of gemmKC,
// NaN, infinities and -0.
func TestSgemmFMAKernelsGiveReferenceBits(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	ms := []int{1, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 130}
	ns := []int{1, 4, 15, 16, 17, 31, 32, 33, 64, 70}
	ks := []int{1, 2, 3, 4, 5, 7, 8, 255, 256, 257, 260, 515}
	type shape struct{ m, n, k int }
	var shapes []shape
	for im, m := range ms {
		for in, n := range ns {
			shapes = append(shapes, shape{m, n, ks[(im*len(ns)+in)%len(ks)]})
		}
	}
	for _, k := range ks {
		shapes = append(shapes, shape{17, 33, k})
	}
	for _, kern := range availableKernels() {
		if kern.tiles == nil {
			continue // the Go kernel rounds each product (kernelGo2x4)
		}
		for si, sh := range shapes {
			bc := newBitsCase(r, sh.m, sh.n, sh.k, si%3 == 0)
			t.Run(fmt.Sprintf("%s/%dx%dx%d", kern.name, sh.m, sh.n, sh.k), func(t *testing.T) {
				checkKernelBits(t, kern, bc)
			})
		}
	}
}

func checkKernelBits(t *testing.T, kern microKernel, bc bitsCase) {
	m, n, k := bc.m, bc.n, bc.k
	a, b := bc.a, bc.b
	at := func(i, p int) float32 { return a[i*k+p] }
	bt := func(p, j int) float32 { return b[p*n+j] }
	fromC := func(i, j int) float32 { return bc.c[i*n+j] }
	check := func(what string, got []float32, want []float32) {
		t.Helper()
		if i := sameBits(got, want); i >= 0 {
			t.Fatalf("%s: C[%d] = %g (%#x), want %g (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	want := fmaReference(m, n, k, at, bt, fromC, false)
	// Transposed copies of A and B.
	aT, bT := make([]float32, k*m), make([]float32, n*k)
	for i := range m {
		for p := range k {
			aT[p*m+i] = a[i*k+p]
		}
	}
	for p := range k {
		for j := range n {
			bT[j*k+p] = b[p*n+j]
		}
	}
	for _, threads := range []int{1, 2} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			am, bm := matrix{data: a, ld: k}, matrix{data: b, ld: n}
			if tr[0] {
				am = matrix{data: aT, ld: m, trans: true}
			}
			if tr[1] {
				bm = matrix{data: bT, ld: k, trans: true}
			}
			got := append([]float32(nil), bc.c...)
			sgemmWith(kern, m, n, k, 1, am, bm, 1, got, n, threads)
			check(fmt.Sprintf("sgemm trans=%v threads=%d", tr, threads), got, want)
		}
		// A packed in advance.
		pa := packWhole(kern, matrix{data: a, ld: k}, m, k)
		got := append([]float32(nil), bc.c...)
		gemmDriver(kern, m, n, k, 1, matrix{}, pa, matrix{data: b, ld: n}, 1, got, n, threads)
		check(fmt.Sprintf("packed A threads=%d", threads), got, want)
	}
	// B in strips, as im2col and packed MatMul weights hold it.
	nr := kern.nr
	strips := make([]float32, (n+nr-1)/nr*nr*k)
	packB(strips, matrix{data: b, ld: n}, 0, 0, k, n, nr)
	got := append([]float32(nil), bc.c...)
	sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, matrix{data: strips, strips: true}, got, n, nil)
	check("B in strips", got, want)
	// B read at row offsets (in reverse order, with a gap), as a
	// convolution reads its input.
	ld := n + nr + 3
	rowData := make([]float32, (k+1)*ld+nr)
	offs := make([]int, k)
	for p := range k {
		offs[p] = (k - p) * ld
		copy(rowData[offs[p]:], b[p*n:(p+1)*n])
	}
	got = append([]float32(nil), bc.c...)
	sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, matrix{data: rowData, rows: offs}, got, n, nil)
	check("B at row offsets", got, want)
	// Epilogues.
	colBias := bc.b[:n] // B's first row: its infinity and values
	for _, relu := range []bool{false, true} {
		for _, withBias := range []bool{false, true} {
			for _, withCol := range []bool{false, true} {
				start := fromC
				ep := &epilogue{relu: relu}
				if withBias {
					ep.bias = bc.bias
					start = func(i, j int) float32 { return bc.bias[i] }
				}
				want := fmaReference(m, n, k, at, bt, start, false)
				if withCol {
					ep.colBias = colBias
					for i := range m {
						for j := range n {
							want[i*n+j] += colBias[j]
						}
					}
				}
				if relu {
					reluInPlace(want)
				}
				for _, bm := range []matrix{{data: b, ld: n}, {data: strips, strips: true}} {
					got := append([]float32(nil), bc.c...)
					sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, bm, got, n, ep)
					check(fmt.Sprintf("epilogue relu=%v bias=%v colBias=%v strips=%v", relu, withBias, withCol, bm.strips), got, want)
				}
			}
		}
	}
}

// TestPackedMatMulGivesReferenceBits checks the MatMul of a constant B
// (packedB.multiply, whose tiles start from zero through the bias
// epilogue and get the column bias in the kernel) against fmaReference
// plus the bias, with and without one, on one and two threads.
func TestPackedMatMulGivesReferenceBits(t *testing.T) {
	t.Parallel()
	if activeKernel.tiles == nil {
		t.Skip("the active kernel is the Go kernel, which rounds each product")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range [][3]int{{1, 1, 1}, {9, 33, 257}, {128, 70, 300}, {130, 96, 515}, {40, 640, 64}, {1100, 40, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		a, b, bias := randFloats(r, m*k), randFloats(r, k*n), randFloats(r, n)
		var cache atomic.Pointer[packedB]
		p := packedWeight(&cache, b, k, n)
		for _, withBias := range []bool{false, true} {
			want := fmaReference(m, n, k, func(i, q int) float32 { return a[i*k+q] }, func(q, j int) float32 { return b[q*n+j] },
				func(i, j int) float32 { return 0 }, false)
			var bb []float32
			if withBias {
				bb = bias
				for i := range m {
					for j := range n {
						want[i*n+j] += bias[j]
					}
				}
			}
			for _, threads := range []int{1, 2} {
				got := randFloats(r, m*n)
				p.multiply(a, m, got, bb, threads)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("%dx%dx%d bias=%v threads=%d: y[%d] = %g, want %g", m, n, k, withBias, threads, i, got[i], want[i])
				}
			}
		}
	}
}

// TestPackAGivesScaledStrips checks packA (its 8-row assembly included)
// against its definition, bit for bit: strip s holds alpha*A[s*mr+r, p]
// at p*mr+r, zeros past A's last row, for k around the assembly's blocks
// of 8 and row strides longer than k.
func TestPackAGivesScaledStrips(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	for _, mr := range []int{6, 8} {
		for _, m := range []int{1, 7, 8, 9, 16, 21} {
			for _, k := range []int{1, 7, 8, 9, 16, 23, 256} {
				for _, alpha := range []float32{1, 0.75, -3} {
					ld := k + r.IntN(3)
					a := randFloats(r, m*ld)
					a[r.IntN(len(a))] = float32(math.NaN())
					a[r.IntN(len(a))] = float32(math.Inf(1))
					strips := (m + mr - 1) / mr
					got := randFloats(r, strips*mr*k)
					packA(got, matrix{data: a, ld: ld}, 0, 0, m, k, mr, alpha)
					want := make([]float32, len(got))
					for i := range m {
						for p := range k {
							want[i/mr*mr*k+p*mr+i%mr] = alpha * a[i*ld+p]
						}
					}
					if i := sameBits(got, want); i >= 0 {
						t.Fatalf("mr=%d m=%d k=%d alpha=%g: strip value %d = %g, want %g", mr, m, k, alpha, i, got[i], want[i])
					}
				}
			}
		}
	}
}
