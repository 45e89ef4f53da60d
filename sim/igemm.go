package sim

import (
	"math"
	"sync/atomic"
)

// The int8 GEMM of deploy models. A quantized layer computes the exact sum
// of (q − offset)·w over its taps, q the int8 activation, offset
// AscendQuant's, w the int8 weight. With u = q + 128 (the activation's sign
// bit flipped, an unsigned byte) and z = 128 + offset, that sum is
//
//	Σ (q − offset)·w = Σ u·w − z·Σ w
//
// so the kernels multiply unsigned bytes by signed ones, the form of
// AVX-512 VNNI's VPDPBUSD, and the epilogue subtracts z times the weights'
// sum over k. A convolution's padding is a real zero, i.e. q = offset: the
// padded u is z, whose term cancels against the correction. Products are
// at most 255·128 in magnitude, so int32 sums are exact up to igemmMaxK
// terms. The bias and the correction are added by the kernel, in int32,
// when no sum of the layer can then leave int32, else in int64 and
// saturated to int32, as the exact path (igemmExact) does: the results are
// identical to it.
//
// Operands are packed in words of 32 bits, each holding g consecutive
// values along k of one row or column: g = 4 bytes for VNNI, g = 2 int16
// for AVX2, whose VPMADDWD adds pairs of products in int32 (VPMADDUBSW
// would add them in int16 and saturate). The rows operand is broadcast:
// strips of mr rows, word (strip s, group p, row r) at (s·kg + p)·mr + r.
// The columns operand is loaded as vectors: strips of nr columns, word
// (strip s, group p, column c) at (s·kg + p)·nr + c. kg = ⌈k/g⌉; the
// weights are zero beyond k (whatever the activation holds there), and
// rows and columns beyond the matrices give results that are dropped.

// igemmKernel is an int8 GEMM micro-kernel: fn stores the product of an
// mr-row strip a and an nr-column strip b, kg words deep, to the mr×nr
// int32 tile c (rows ldc apart); b's words for group p start at p·ldb (nr
// in the packed layout). fn reads the columns as the unsigned operand
// (Conv: the activation's im2col matrix) and adds corr[r] to row r; fnU
// reads the rows as unsigned (Gemm, MatMul: the activation's rows) and
// adds corr[c] to column c. The additions are in int32 (the caller makes
// sure they cannot overflow); nil corr adds nothing; with relu, negatives
// become 0.
type igemmKernel struct {
	name      string
	mr, nr, g int
	fn, fnU   igemmFunc
}

// igemmFunc is the signature of igemmKernel's functions.
type igemmFunc func(kg int, a, b []uint32, ldb int, c []int32, ldc int, corr []int32, relu bool)

// activeIKernel is the int8 kernel deploy layers use, nil when the CPU has
// none (or the purego build): then they run on the float GEMM
// (igemmExact), with the same results.
var activeIKernel *igemmKernel

// igemmMaxK is the deepest sum the int32 accumulators hold exactly.
const igemmMaxK = math.MaxInt32 / (255 * 128)

// kgroups returns the number of words along k.
func (kn *igemmKernel) kgroups(k int) int { return (k + kn.g - 1) / kn.g }

// word packs the values v (at most g of them) into one word: bytes as
// they are (unsigned ones with the sign bit flipped, u = q + 128), or, for
// g = 2, as int16 (unsigned ones zero-extended from u, signed ones
// sign-extended).
func (kn *igemmKernel) word(v []int8, unsigned bool) uint32 {
	var w uint32
	for t, x := range v {
		switch {
		case kn.g == 4 && unsigned:
			w |= uint32(uint8(x)^0x80) << (8 * t)
		case kn.g == 4:
			w |= uint32(uint8(x)) << (8 * t)
		case unsigned:
			w |= uint32(uint8(x)^0x80) << (16 * t)
		default:
			w |= uint32(uint16(int16(x))) << (16 * t)
		}
	}
	return w
}

// packRows packs the rows×k row-major matrix src (row stride ld) as the
// rows operand into dst, which must hold ⌈rows/mr⌉·kg·mr words.
func (kn *igemmKernel) packRows(dst []uint32, src []int8, rows, k, ld int, unsigned bool) {
	kg := kn.kgroups(k)
	full := k / kn.g // whole words, packed by the fast loop below
	fast := kn.g == 4 && unsigned
	if !fast {
		full = 0
	}
	clear(dst)
	for i := 0; i < rows; i++ {
		row := src[i*ld : i*ld+k]
		d := dst[i/kn.mr*kg*kn.mr+i%kn.mr:]
		if fast {
			for p := range full {
				b := row[4*p : 4*p+4 : 4*p+4]
				d[p*kn.mr] = (uint32(uint8(b[0])) | uint32(uint8(b[1]))<<8 | uint32(uint8(b[2]))<<16 | uint32(uint8(b[3]))<<24) ^ 0x80808080
			}
		}
		for p := full; p < kg; p++ {
			d[p*kn.mr] = kn.word(row[p*kn.g:min(k, p*kn.g+kn.g)], unsigned)
		}
	}
}

// packCols packs the signed k×n matrix whose element (kk, j) is
// src[kk·ldk + j·ldn] as the columns operand into dst, which must hold
// ⌈n/nr⌉·kg·nr words, and returns each column's sum.
func (kn *igemmKernel) packCols(dst []uint32, src []int8, k, n, ldk, ldn int) []int32 {
	kg := kn.kgroups(k)
	clear(dst)
	sums := make([]int32, n)
	var v [4]int8
	for j := 0; j < n; j++ {
		base := j / kn.nr * kg * kn.nr
		for p := 0; p < kg; p++ {
			cnt := min(kn.g, k-p*kn.g)
			for t := range cnt {
				v[t] = src[(p*kn.g+t)*ldk+j*ldn]
				sums[j] += int32(v[t])
			}
			dst[base+p*kn.nr+j%kn.nr] = kn.word(v[:cnt], false)
		}
	}
	return sums
}

// rowSums returns the sum of each row of the rows×k row-major matrix src.
func rowSums(src []int8, rows, k int) []int32 {
	s := make([]int32, rows)
	for i := range s {
		for _, v := range src[i*k : i*k+k] {
			s[i] += int32(v)
		}
	}
	return s
}

// saturate returns v clamped to int32.
func saturate(v int64) int32 {
	return int32(max(math.MinInt32, min(math.MaxInt32, v)))
}

// rowCorrections is what the epilogue adds to the sums of each row of a
// Conv (each column of Gemm and MatMul): the bias minus z times the row's
// weight sum, in int64 (c64), and, when no sum of the layer can then leave
// int32 (fits), in int32 (c32, padded to whole strips) for the kernel to
// add itself; otherwise the sums are saturated in Go (igemmStoreRow).
type rowCorrections struct {
	c64  []int64
	c32  []int32
	fits bool
}

// newRowCorrections builds the corrections of rows with weight sums sums,
// optional bias, activation zero z, k terms, padded to padded rows.
func newRowCorrections(sums, bias []int32, z int64, k, padded int) rowCorrections {
	rc := rowCorrections{c64: make([]int64, len(sums)), c32: make([]int32, padded), fits: true}
	bound := int64(k) * 255 * 128 // largest |sum of products|
	for i, s := range sums {
		v := -z * int64(s)
		if bias != nil {
			v += int64(bias[i])
		}
		rc.c64[i] = v
		rc.c32[i] = int32(v)
		if v > math.MaxInt32-bound || v < math.MinInt32+bound {
			rc.fits = false
		}
	}
	return rc
}

// igemmStoreRow writes a row of results: each sum of acc plus corr (the
// bias minus the offset correction), saturated to int32, and clamped at 0
// when relu is set (Relu after saturating, in one clamp).
func igemmStoreRow(dst, acc []int32, corr int64, relu bool) {
	lo := int64(math.MinInt32)
	if relu {
		lo = 0
	}
	acc = acc[:len(dst)]
	for j, v := range acc {
		dst[j] = int32(min(max(int64(v)+corr, lo), math.MaxInt32))
	}
}

// igemmPacked is a layer's int8 weight packed for one kernel: words and
// sums per group (a Conv's groups; one for Gemm and MatMul).
type igemmPacked struct {
	src     *int8
	n, k, m int
	trans   bool
	kern    *igemmKernel
	words   [][]uint32
	sums    [][]int32
}

// igemmWeights keeps a layer's packed weight between runs when the weight
// is an initializer (the layer's build allocates it only then); a nil
// *igemmWeights packs on every run.
type igemmWeights struct{ p atomic.Pointer[igemmPacked] }

// get returns the packing of w for kern that pack makes, kept from an
// earlier run when w is the same data with the same shape.
func (c *igemmWeights) get(kern *igemmKernel, w []int8, k, m int, trans bool, pack func() *igemmPacked) *igemmPacked {
	if c == nil || len(w) == 0 {
		return pack()
	}
	if p := c.p.Load(); p != nil && p.src == &w[0] && p.n == len(w) && p.k == k && p.m == m && p.trans == trans && p.kern == kern {
		return p
	}
	p := pack()
	p.src, p.n, p.k, p.m, p.trans, p.kern = &w[0], len(w), k, m, trans, kern
	// Concurrent first runs may both pack; either result is the same.
	c.p.Store(p)
	return p
}

// IGemmKernel names the int8 kernel deploy models' Conv, Gemm and MatMul
// run on ("vnni_8x32", "avx2_6x16"), or "exact" for the float path.
func IGemmKernel() string {
	if activeIKernel == nil {
		return "exact"
	}
	return activeIKernel.name
}
