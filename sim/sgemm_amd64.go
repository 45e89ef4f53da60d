//go:build !purego

package sim

import (
	"math/bits"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly micro-kernels (sgemm_amd64.s, written by make_sgemm_amd64.py).
// They have the contract of microKernel.fn with raw pointers; the wrappers
// below check the bounds.

//go:generate python3 make_sgemm_amd64.py

//go:noescape
func kernelAVX2_6x16(kc int, a *float32, m int, b *float32, ldb int, c *float32, ldc int, cols int, bias, cbias *float32, relu int, pf *float32, pfn int, ky *float32, kld, kmask, khi int, offs *int, src *float32, res, rdelta int)

//go:noescape
func kernelAVX512_8x32(kc int, a *float32, m int, b *float32, ldb int, c *float32, ldc int, cols int, bias, cbias *float32, relu int, pf *float32, pfn int, ky *float32, kld, kmask, khi int, offs *int, src *float32, res, rdelta int)

//go:noescape
func packRowsAVX2_16(dst, src *float32, offs *int, kc int)

//go:noescape
func packRowsAVX512_32(dst, src *float32, offs *int, kc int)

// epiArgs are the epilogue arguments of the assembly kernels, for rows
// rows of C.
func epiArgs(bias []float32, relu bool, rows int) (*float32, int) {
	var bp *float32
	if bias != nil {
		_ = bias[rows-1]
		bp = &bias[0]
	}
	if relu {
		return bp, 1
	}
	return bp, 0
}

// keptArgs are the kept-column arguments of the AVX-512 kernel for m rows
// and the first cols columns of a strip (see kernelAVX512_8x32): nil and
// zeros when kept.y is nil. store is false when the strip keeps nothing.
func keptArgs(kept keptStrip, m, cols int) (ky *float32, kmask, khi int, store bool) {
	if kept.y == nil {
		return nil, 0, 0, true
	}
	keep := kept.mask & uint32(uint64(1)<<cols-1)
	lo, hi := keep&0xffff, keep>>16
	nlo, nhi := bits.OnesCount32(lo), bits.OnesCount32(hi)
	if nlo+nhi == 0 {
		return nil, 0, 0, false
	}
	_ = kept.y[(m-1)*kept.ld+nlo+nhi-1]
	kmask = int(lo) | int(hi)<<16 | (1<<nlo-1)<<32 | (1<<nhi-1)<<48
	return &kept.y[0], kmask, 4 * nlo, true
}

// resArgs are the residual arguments of the AVX-512 kernel (res and
// rdelta, see kernelAVX512_8x32) for m rows and the first cols columns of
// a tile stored to ky (kept columns, rows kld apart, kmask's counts) or
// else to c (rows ldc apart): 0, 0 when res.add is nil. res.add is laid
// out as where the values go, from its first one on.
func resArgs(res resStrip, addsRes bool, ky *float32, kld, kmask int, c *float32, m, ldc, cols int) (rk, rdelta int) {
	if res.add == nil {
		return 0, 0
	}
	if !addsRes {
		panic("sim: residual for a kernel that cannot add it")
	}
	dst, ld, n := c, ldc, cols
	if ky != nil {
		dst, ld, n = ky, kld, bits.OnesCount(uint(kmask)>>32)
	}
	_ = res.add[(m-1)*ld+n-1]
	rk = 1
	if res.first {
		rk = 2
	}
	// A byte distance, not a pointer: the assembly adds it to each
	// address it stores to. res.add stays alive through the call.
	return rk, int(uintptr(unsafe.Pointer(&res.add[0])) - uintptr(unsafe.Pointer(dst)))
}

// bArgs are the assembly kernels' arguments for tiles' block of B (kc
// rows of nr floats, ldb apart): b itself, or, with rows.offs not nil,
// the strip rows describes, which the first tile copies to b (packed:
// ldb = nr) when more tiles follow (m > mr). The offsets are checked as
// packRows checks them, src by sgemmSerial.
func bArgs(b []float32, ldb, kc, m, mr, nr int, rows rowsStrip) (bp *float32, offs *int, src *float32) {
	if rows.offs == nil {
		_ = b[(kc-1)*ldb+nr-1]
		return &b[0], nil, nil
	}
	if ldb != nr {
		panic("sim: copy of a strip at row offsets not packed")
	}
	_, _ = rows.offs[kc-1], rows.src[0]
	if m > mr {
		_ = b[kc*nr-1]
		bp = &b[0]
	}
	return bp, &rows.offs[0], &rows.src[0]
}

// asmKernel wraps an mr x nr assembly kernel and its strip packer in a
// microKernel, checking the bounds the assembly does not; storesKept: the
// kernel takes the kept columns' arguments, readsRows: its row offsets,
// addsRes: its residual's.
func asmKernel(mr, nr int, name string, storesKept, readsRows, addsRes bool,
	kernel func(kc int, a *float32, m int, b *float32, ldb int, c *float32, ldc int, cols int, bias, cbias *float32, relu int, pf *float32, pfn int, ky *float32, kld, kmask, khi int, offs *int, src *float32, res, rdelta int),
	pack func(dst, src *float32, offs *int, kc int)) microKernel {
	return microKernel{mr: mr, nr: nr, name: name, storesKept: storesKept, readsRows: readsRows, addsRes: addsRes,
		fn: func(kc int, a, b []float32, ldb int, c []float32, ldc int) {
			if kc == 0 {
				return
			}
			_, _, _ = a[mr*kc-1], b[(kc-1)*ldb+nr-1], c[(mr-1)*ldc+nr-1]
			kernel(kc, &a[0], mr, &b[0], ldb, &c[0], ldc, nr, nil, nil, 0, nil, 0, nil, 0, 0, 0, nil, nil, 0, 0)
		},
		tiles: func(kc int, a []float32, m int, b []float32, ldb int, c []float32, ldc, cols int, bias, colBias []float32, relu bool, next []float32, kept keptStrip, rows rowsStrip, res resStrip) {
			if m <= 0 || cols <= 0 {
				return
			}
			if cols > nr {
				panic("sim: kernel tile wider than the kernel")
			}
			if kept.y != nil && !storesKept {
				panic("sim: kept columns for a kernel that cannot store them")
			}
			ky, kmask, khi, store := keptArgs(kept, m, cols)
			if !store {
				return
			}
			if rows.offs != nil && !readsRows {
				panic("sim: row offsets for a kernel that cannot read them")
			}
			_ = a[(m+mr-1)/mr*mr*kc-1]
			bp0, offs, src := bArgs(b, ldb, kc, m, mr, nr, rows)
			// C is neither read nor written with kept columns from a bias.
			var cp *float32
			if ky == nil || bias == nil {
				_ = c[(m-1)*ldc+cols-1]
				cp = &c[0]
			}
			bp, r := epiArgs(bias, relu, m)
			var cb *float32
			if colBias != nil {
				_ = colBias[cols-1]
				cb = &colBias[0]
			}
			// Prefetching reads nothing: a partial last line is harmless.
			var pf *float32
			pfn := len(next) * 4 / cacheLine
			if pfn > 0 {
				pf = &next[0]
			}
			rk, rdelta := resArgs(res, addsRes, ky, kept.ld, kmask, cp, m, ldc, cols)
			kernel(kc, &a[0], m, bp0, ldb, cp, ldc, cols, bp, cb, r, pf, pfn, ky, kept.ld, kmask, khi, offs, src, rk, rdelta)
			runtime.KeepAlive(res.add)
		},
		// The offsets are checked; src is not: sgemmSerial checks once
		// that every row lies in B's data.
		packRows: func(dst, src []float32, offs []int, kc int) {
			if kc == 0 {
				return
			}
			_, _, _ = dst[kc*nr-1], src[0], offs[kc-1]
			pack(&dst[0], &src[0], &offs[0], kc)
		},
	}
}

var (
	avx2Kernel   = asmKernel(6, 16, "avx2_6x16", false, false, false, kernelAVX2_6x16, packRowsAVX2_16)
	avx512Kernel = asmKernel(8, 32, "avx512_8x32", true, true, true, kernelAVX512_8x32, packRowsAVX512_32)
)

//go:noescape
func packA8AVX(dst, src *float32, ld, blocks int, alpha float32)

// packA8Fast packs the first kc/8*8 values of packA8's strip with AVX and
// returns how many it packed: kc/8*8, or 0 without AVX2.
func packA8Fast(strip, src []float32, ld, kc int, alpha float32) int {
	blocks := kc / 8
	if !hasAVX2 || blocks == 0 {
		return 0
	}
	_, _ = strip[blocks*64-1], src[7*ld+blocks*8-1]
	packA8AVX(&strip[0], &src[0], ld, blocks, alpha)
	return blocks * 8
}

//go:noescape
func im2colSegsAVX512(dst, src *float32, segs *im2colSeg, n int)

//go:noescape
func im2colSegsStridedAVX512(dst, src *float32, segs *im2colSeg, n, stride int)

//go:noescape
func im2colSegsAVX2(dst, src *float32, segs *im2colSeg, n int)

//go:noescape
func im2colSegsStridedAVX2(dst, src *float32, segs *im2colSeg, n, stride int)

// im2colSegsFast writes the pieces segs describes into dst (a row of the
// im2col matrix) from src (a channel's plane), input values stride apart,
// for strips nr wide (im2colFast(nr)); the caller has checked that every
// piece lies within dst and src.
func im2colSegsFast(dst, src []float32, segs []im2colSeg, stride, nr int) {
	switch {
	case len(segs) == 0:
	case nr == 32 && stride == 1:
		im2colSegsAVX512(&dst[0], &src[0], &segs[0], len(segs))
	case nr == 32:
		im2colSegsStridedAVX512(&dst[0], &src[0], &segs[0], len(segs), stride)
	case stride == 1:
		im2colSegsAVX2(&dst[0], &src[0], &segs[0], len(segs))
	default:
		im2colSegsStridedAVX2(&dst[0], &src[0], &segs[0], len(segs), stride)
	}
}

//go:noescape
func im2colCopyAVX512(dst, src *float32, segs *im2colCopy, n int)

// im2colCopyFast copies the pieces segs describes from src (a padded
// channel plane) into dst (a row of the im2col matrix, strips 32 wide);
// the caller has checked that every piece lies within dst and src.
func im2colCopyFast(dst, src []float32, segs []im2colCopy) {
	if len(segs) > 0 {
		im2colCopyAVX512(&dst[0], &src[0], &segs[0], len(segs))
	}
}

// im2colFast reports whether im2colRange has assembly for strips nr
// wide: 32, the AVX-512 kernel's nr, when the CPU has AVX-512 and BMI2;
// 16, the AVX2 kernel's, when it has AVX2.
func im2colFast(nr int) bool {
	switch nr {
	case 32:
		return hasAVX512 && cpu.X86.HasBMI2
	case 16:
		return hasAVX2
	}
	return false
}

// hasAVX2 and hasAVX512 report what the CPU (and OS, which must save the
// wider registers) supports; x/sys/cpu checks both.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = cpu.X86.HasAVX512F
)

// availableKernels lists the kernels this machine can run, fastest last.
func availableKernels() []microKernel {
	ks := []microKernel{goKernel}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	return ks
}

func init() {
	ks := availableKernels()
	activeKernel = ks[len(ks)-1]
	// AMQ_SIM_GEMM names a kernel to use instead (e.g. "go2x4"), to compare
	// kernels or to work around a suspect one.
	if want := os.Getenv("AMQ_SIM_GEMM"); want != "" {
		for _, k := range ks {
			if k.name == want {
				activeKernel = k
			}
		}
	}
}
