package sim

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the textbook definition, in float64.
func naiveGemm(m, n, k int, alpha float64, a []float32, transA bool, b []float32, transB bool, beta float64, c []float32) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if transA {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if transB {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = alpha*s + beta*float64(c[i*n+j])
		}
	}
	return out
}

func TestSgemmKernelsMatchDefinition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {1, 37, 5}, {7, 1, 9}, {6, 16, 1}, {13, 17, 19}, {8, 32, 300}, {33, 70, 257}, {121, 45, 64}, {5, 3100, 3}, {130, 9, 600}}
	for _, kern := range availableKernels() {
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, threads := range []int{1, 2, 3} {
					m, n, k := sh[0], sh[1], sh[2]
					a, b, c := randFloats(r, m*k), randFloats(r, k*n), randFloats(r, m*n)
					alpha, beta := float32(0.75), float32(-0.5)
					want := naiveGemm(m, n, k, float64(alpha), a, tr[0], b, tr[1], float64(beta), c)
					am := matrix{data: a, ld: k, trans: tr[0]}
					if tr[0] {
						am.ld = m
					}
					bm := matrix{data: b, ld: n, trans: tr[1]}
					if tr[1] {
						bm.ld = k
					}
					got := append([]float32(nil), c...)
					sgemmWith(kern, m, n, k, alpha, am, bm, beta, got, n, threads)
					if i := closeTo(got, want, 1e-4, 1e-4*math.Sqrt(float64(k))); i >= 0 {
						t.Fatalf("%s m=%d n=%d k=%d trans=%v threads=%d: C[%d] = %g, want %g", kern.name, m, n, k, tr, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestSgemmBetaZeroIgnoresNaN checks the BLAS rule that beta = 0 overwrites C.
func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	t.Parallel()
	for _, kern := range availableKernels() {
		c := []float32{float32(math.NaN()), float32(math.Inf(1))}
		sgemmWith(kern, 1, 2, 1, 1, matrix{data: []float32{2}, ld: 1}, matrix{data: []float32{3, 4}, ld: 2}, 0, c, 2, 1)
		if c[0] != 6 || c[1] != 8 {
			t.Errorf("%s: got %v, want [6 8]", kern.name, c)
		}
	}
}

// TestSgemmEpilogueGivesFillThenRelu checks that the GEMM with a bias,
// column bias and Relu epilogue gives the bits of filling C with the
// bias, running the GEMM, adding the column bias and clamping afterwards,
// for every kernel, over several cache blocks of k, edge tiles, and the
// values where max differs from a comparison: NaN, -0 and negative
// results.
func TestSgemmEpilogueGivesFillThenRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	for _, kern := range availableKernels() {
		for _, sh := range [][3]int{{8, 32, 5}, {16, 64, 300}, {13, 70, 600}, {24, 96, 0}} {
			m, n, k := sh[0], sh[1], sh[2]
			a, b := randFloats(r, m*k), randFloats(r, k*n)
			bias := randFloats(r, m)
			if k > 0 {
				a[2*k] = nan // row 2 is NaN everywhere
				clear(a[3*k : 4*k])
			}
			bias[3] = negZero // row 3 is -0 + (+0 products)
			colBias := randFloats(r, n)
			colBias[0] = negZero
			for _, relu := range []bool{false, true} {
				for _, withBias := range []bool{false, true} {
					for _, withCol := range []bool{false, true} {
						want := randFloats(r, m*n)
						got := append([]float32(nil), want...)
						ep := &epilogue{relu: relu}
						if withBias {
							ep.bias = bias
							for i := 0; i < m; i++ {
								fill(want[i*n:(i+1)*n], bias[i])
							}
						}
						am, bm := matrix{data: a, ld: k}, matrix{data: b, ld: n}
						sgemmSerial(kern, m, n, k, 1, am, nil, 0, bm, want, n, nil)
						if withCol {
							ep.colBias = colBias
							for i := 0; i < m; i++ {
								addRow(want[i*n:(i+1)*n], colBias)
							}
						}
						if relu {
							reluInPlace(want)
						}
						sgemmSerial(kern, m, n, k, 1, am, nil, 0, bm, got, n, ep)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %dx%dx%d relu=%v bias=%v colBias=%v: C[%d] = %g (%#x), want %g (%#x)", kern.name, m, n, k, relu, withBias, withCol, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmKeptColumnsGiveStoredBits checks the epilogue's kept columns
// (keptCols, for kernels with storesKept) against storing C and copying
// the kept columns of each strip out: for random masks (strips keeping
// nothing, everything, one column), rows that do not fill a tile, a
// ragged last strip, one and several cache blocks of k (C read back), B
// in place and at row offsets, bias or zero, column bias, and Relu over
// NaN and -0; nothing else of y is written.
func TestSgemmKeptColumnsGiveStoredBits(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	nan := float32(math.NaN())
	sentinel := float32(-12345)
	tried := 0
	for _, kern := range availableKernels() {
		if !kern.storesKept {
			continue
		}
		nr := kern.nr
		for _, sh := range [][3]int{{8, 32, 5}, {13, 3*32 + 7, 300}, {1, 2*32 + 1, 256}, {70, 5 * 32, 600}, {21, 40, 257}} {
			m, n, k := sh[0], sh[1], sh[2]
			masks, offs, width := randomKeptMasks(r, n, nr)
			ld := width + 3
			a, b := randFloats(r, m*k), randFloats(r, k*n+nr)
			a[min(2, m-1)*k] = nan
			bias, colBias := randFloats(r, m), randFloats(r, n)
			rows := make([]int, k)
			for p := range rows {
				rows[p] = p * n
			}
			for _, bm := range []matrix{{data: b, ld: n}, {data: b, rows: rows}} {
				for _, relu := range []bool{false, true} {
					for _, withBias := range []bool{false, true} {
						for _, withCol := range []bool{false, true} {
							ep := &epilogue{relu: relu, fromZero: !withBias}
							if withBias {
								ep.bias = bias
							}
							if withCol {
								ep.colBias = colBias
							}
							c := make([]float32, m*n)
							sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, bm, c, n, ep)
							want := make([]float32, m*ld)
							fill(want, sentinel)
							for i := range m {
								for s, mask := range masks {
									o := i*ld + offs[s]
									for j := range nr {
										if mask&(1<<j) != 0 {
											want[o] = c[i*n+s*nr+j]
											o++
										}
									}
								}
							}
							got := make([]float32, m*ld)
							fill(got, sentinel)
							ep.kept = &keptCols{y: got, ld: ld, offs: offs, masks: masks}
							var scratch []float32
							if k > gemmKC {
								scratch = make([]float32, m*n)
							}
							sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, bm, scratch, n, ep)
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s %dx%dx%d rows %v relu=%v bias=%v colBias=%v: y[%d] = %g, want %g", kern.name, m, n, k, bm.rows != nil, relu, withBias, withCol, i, got[i], want[i])
								}
							}
							tried++
						}
					}
				}
			}
		}
	}
	if tried == 0 {
		t.Skip("no kernel here stores kept columns")
	}
}

// TestSgemmRowsReadByKernelGivePackedBits checks the kernels that read a
// B at row offsets themselves (readsRows: the first tile reads the
// strip in place and copies it for the others) against packing each
// strip first (packRows) and running the same kernel on the copy, bit
// for bit: k of one short block, of exactly gemmKC, and of several
// blocks (a short last one); a ragged last strip; one tile of rows and
// many, counts that do not fill a tile; offsets in any order, apart or
// overlapping; C stored or the kept columns of a virtual output, from a
// bias or from zero, with a column bias and Relu over NaN.
func TestSgemmRowsReadByKernelGivePackedBits(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	nan := float32(math.NaN())
	tried := 0
	for _, kern := range availableKernels() {
		if !kern.readsRows {
			continue
		}
		packing := kern
		packing.readsRows = false
		nr := kern.nr
		for _, sh := range [][3]int{{1, 32, 5}, {8, 3*32 + 7, 256}, {5, 2 * 32, 7}, {9, 40, 256}, {13, 3*32 + 7, 100}, {64, 5*32 + 1, 576}, {21, 33, 257}, {gemmMC + 5, 40, 20}} {
			m, n, k := sh[0], sh[1], sh[2]
			// Rows in reverse order, 3 apart over a plane of n+nr
			// columns (taps of one input row overlap), with a gap
			// after every ninth as between channels.
			ld := n + nr
			offs := make([]int, k)
			for p := range offs {
				q := k - 1 - p
				offs[p] = q/9*(3*ld+50) + q%9/3*ld + q%3
			}
			data := randFloats(r, (k/9+1)*(3*ld+50)+ld)
			data[offs[k/2]+min(3, n-1)] = nan
			a := randFloats(r, m*k)
			bias, colBias := randFloats(r, m), randFloats(r, n)
			strips := (n + nr - 1) / nr
			masks, koffs := make([]uint32, strips), make([]int, strips)
			width := 0
			for s := range masks {
				masks[s] = r.Uint32()
				if cols := min(nr, n-s*nr); cols < 32 {
					masks[s] &= 1<<cols - 1
				}
				koffs[s] = width
				width += bits.OnesCount32(masks[s])
			}
			for _, packedA := range []bool{false, true} {
				for _, kept := range []bool{false, true} {
					for _, withBias := range []bool{false, true} {
						relu, withCol := withBias, !withBias
						run := func(kern microKernel) ([]float32, []float32) {
							ep := &epilogue{relu: relu, fromZero: !withBias}
							if withBias {
								ep.bias = bias
							}
							if withCol {
								ep.colBias = colBias
							}
							c := make([]float32, m*n)
							var y []float32
							if kept {
								y = make([]float32, m*width)
								ep.kept = &keptCols{y: y, ld: width, offs: koffs, masks: masks}
							}
							bm := matrix{data: data, rows: offs}
							if packedA {
								pa := packWhole(kern, matrix{data: a, ld: k}, m, k)
								sgemmSerial(kern, m, n, k, 1, matrix{}, pa, 0, bm, c, n, ep)
							} else {
								sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, bm, c, n, ep)
							}
							return c, y
						}
						gotC, gotY := run(kern)
						wantC, wantY := run(packing)
						name := fmt.Sprintf("%s %dx%dx%d packedA=%v kept=%v bias=%v", kern.name, m, n, k, packedA, kept, withBias)
						for _, pair := range [][2][]float32{{gotC, wantC}, {gotY, wantY}} {
							for i := range pair[1] {
								if math.Float32bits(pair[0][i]) != math.Float32bits(pair[1][i]) {
									t.Fatalf("%s: element %d = %g, want %g (packed first)", name, i, pair[0][i], pair[1][i])
								}
							}
						}
						tried++
					}
				}
			}
		}
	}
	if tried == 0 {
		t.Skip("no kernel here reads B at row offsets itself")
	}
}

// randomKeptMasks are random kept-column masks for the strips of n
// columns (strips keeping nothing, everything, one column), their
// offsets, and the width of the rows they fill.
func randomKeptMasks(r *rand.Rand, n, nr int) (masks []uint32, offs []int, width int) {
	strips := (n + nr - 1) / nr
	masks, offs = make([]uint32, strips), make([]int, strips)
	for s := range masks {
		switch s % 4 {
		case 0:
			masks[s] = r.Uint32()
		case 1:
			masks[s] = ^uint32(0)
		case 2:
			masks[s] = 1 << (r.IntN(32))
		}
		if cols := min(nr, n-s*nr); cols < 32 {
			masks[s] &= 1<<cols - 1
		}
		offs[s] = width
		width += bits.OnesCount32(masks[s])
	}
	return masks, offs, width
}
