package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmResidualGivesPostPassBits checks the residual the kernels with
// addsRes add in their epilogue (epilogue.res, a fused residual Add)
// against the product stored first and the residual added after it, in
// the Add's operand order, then Relu, as convShortcut.addBlock does: C
// stored (rows ldc apart, ldc past the columns) and the kept columns of a
// virtual output; k of one short block, of exactly gemmKC and of several
// (C read back); rows and columns that do not fill a tile; a bias or
// zero, a column bias, Relu or not; NaN in the product, in the residual,
// and in both with other payloads (the operand order picks one). Nothing
// else of C or y is written.
func TestSgemmResidualGivesPostPassBits(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	// Positive NaNs: Go's scalar max, in the post pass's Relu of a row's
	// last values, clears a NaN's sign (its vector kernel and the
	// kernels' MAXPS keep it).
	nanA, nanS := math.Float32frombits(0x7fc00456), math.Float32frombits(0x7fc00123)
	sentinel := float32(-12345)
	tried := 0
	for _, kern := range availableKernels() {
		if !kern.addsRes {
			continue
		}
		nr := kern.nr
		for _, sh := range [][3]int{{8, 32, 5}, {13, 3*32 + 7, 300}, {1, 2*32 + 1, 256}, {70, 5 * 32, 600}, {21, 40, 257}, {9, 17, 64}} {
			m, n, k := sh[0], sh[1], sh[2]
			a, b := randFloats(r, m*k), randFloats(r, k*n+nr)
			a[min(2, m-1)*k] = nanA // row 2's products are NaN
			bias, colBias := randFloats(r, m), randFloats(r, n)
			ldc := n + 5
			sc := randFloats(r, m*ldc)
			for i := range m {
				if i != min(2, m-1) { // NaN+NaN is planted below, where it may be
					sc[i*ldc+r.IntN(n)] = nanS
				}
			}
			// NaN plus NaN where the post pass takes its vector kernel
			// (the first operand's NaN, as the kernel does); Go's scalar
			// loop of a row's last n%8 values, and of whole rows without
			// the vector kernels (AMQ_SIM_GEMM=go2x4), may take either.
			if haveVec && n >= vecMin {
				sc[min(2, m-1)*ldc] = nanS
			}
			masks, offs, width := randomKeptMasks(r, n, nr)
			ld := width + 3
			for _, kept := range []bool{false, true} {
				for _, relu := range []bool{false, true} {
					for _, withBias := range []bool{false, true} {
						for _, first := range []bool{false, true} {
							name := fmt.Sprintf("%s %dx%dx%d kept=%v relu=%v bias=%v first=%v", kern.name, m, n, k, kept, relu, withBias, first)
							newEp := func() *epilogue {
								ep := &epilogue{fromZero: !withBias, colBias: colBias}
								if withBias {
									ep.bias = bias
								}
								return ep
							}
							// The product stored, then the residual
							// added and Relu applied by the post pass.
							c := make([]float32, m*ldc)
							fill(c, sentinel)
							sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, matrix{data: b, ld: n}, c, ldc, newEp())
							for i := range m {
								res := &convShortcut{add: sc[i*ldc : i*ldc+n], first: first}
								if relu {
									res.post = reluInPlace
								}
								res.addBlock(c[i*ldc:i*ldc+n], 0, n)
							}
							ep := newEp()
							ep.relu, ep.resFirst = relu, first
							if !kept {
								ep.res = sc
								got := make([]float32, m*ldc)
								fill(got, sentinel)
								sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, matrix{data: b, ld: n}, got, ldc, ep)
								checkResidualBits(t, name, got, c)
								tried++
								continue
							}
							// The kept columns of each strip, and the
							// residual laid out as them.
							want, ks := make([]float32, m*ld), make([]float32, m*ld)
							fill(want, sentinel)
							fill(ks, nanS)
							for i := range m {
								for s, mask := range masks {
									o := i*ld + offs[s]
									for j := range nr {
										if mask&(1<<j) != 0 {
											want[o], ks[o] = c[i*ldc+s*nr+j], sc[i*ldc+s*nr+j]
											o++
										}
									}
								}
							}
							got := make([]float32, m*ld)
							fill(got, sentinel)
							ep.kept = &keptCols{y: got, ld: ld, offs: offs, masks: masks}
							ep.res = ks
							var scratch []float32
							if k > gemmKC {
								scratch = make([]float32, m*n)
							}
							sgemmSerial(kern, m, n, k, 1, matrix{data: a, ld: k}, nil, 0, matrix{data: b, ld: n}, scratch, n, ep)
							checkResidualBits(t, name, got, want)
							tried++
						}
					}
				}
			}
		}
	}
	if tried == 0 {
		t.Skip("no kernel here adds a residual")
	}
}

func checkResidualBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %g (%#x), want %g (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
