package quant

import (
	"fmt"
	"math"

	"amq/onnx"
)

// hfmgBins lists the num_of_bins values AMCT accepts.
var hfmgBins = []int{1024, 2048, 4096, 8192}

// HFMG search constants, AMCT's: each step of the range search drops at
// least 1/hfmgStepDivisor of the values from one end, and the search stops
// once the range spans at most 1/hfmgMinBinRatio of the bins.
const (
	hfmgStepDivisor = 100000
	hfmgMinBinRatio = 4
	hfmgLevels      = 256 // int8 levels the candidate range is re-binned onto
)

// HFMGHistogram is the histogram HFMG calibrates from: num_of_bins bins of
// equal width spanning exactly [Min, Max], the extremes of every value seen,
// merged batch by batch the way AMCT merges its histograms. Its memory is
// two int64 per bin, whatever the number of batches.
//
// A batch whose values stay inside the current range is binned onto the
// current bins. Otherwise the range grows to the union, the batch is binned
// over it, and each old bin's count moves to the one or two new bins it
// overlaps, split in proportion to the overlap (values assumed uniform
// inside a bin; the lower share truncated to an integer, as AMCT does).
// Unlike Histogram, the range need not contain 0 and is not padded: the
// bins cover only the data, which is what makes HFMG's candidate ranges
// (runs of whole bins) the same as AMCT's.
//
// Bin positions are computed in float32 with the operations of PyTorch's
// histc, which AMCT uses, so that a batch is binned exactly as AMCT bins it.
type HFMGHistogram struct {
	Min, Max float32 // extremes of the values seen; the range of the bins
	N        int64   // number of values seen

	count []int64
	next  []int64 // the batch being merged, swapped with count
}

// NewHFMGHistogram returns an empty HFMG histogram with the given number of
// bins (at least 1).
func NewHFMGHistogram(bins int) *HFMGHistogram {
	bins = max(bins, 1)
	return &HFMGHistogram{count: make([]int64, bins), next: make([]int64, bins)}
}

// Bins is the number of bins.
func (h *HFMGHistogram) Bins() int { return len(h.count) }

// Count returns the number of values in bin i.
func (h *HFMGHistogram) Count(i int) int64 { return h.count[i] }

// Observe adds the float32 values of t.
func (h *HFMGHistogram) Observe(t *onnx.Tensor) error { return addFloats(t, h.Add) }

// Add adds one batch of values. It fails on NaN or infinite values, which
// have no int8 representation.
func (h *HFMGHistogram) Add(x []float32) error {
	if len(x) == 0 {
		return nil
	}
	bmin, bmax := x[0], x[0]
	for _, v := range x {
		if v != v || math.IsInf(float64(v), 0) {
			return fmt.Errorf("non-finite value %v", v)
		}
		bmin, bmax = min(bmin, v), max(bmax, v)
	}
	if h.N == 0 {
		h.Min, h.Max, h.N = bmin, bmax, int64(len(x))
		histc(x, bmin, bmax, h.count)
		return nil
	}
	lo, hi := min(h.Min, bmin), max(h.Max, bmax)
	histc(x, lo, hi, h.next)
	if near(lo, h.Min) && near(hi, h.Max) {
		for i, c := range h.count {
			h.next[i] += c
		}
	} else {
		h.rebin(lo, hi)
	}
	h.count, h.next = h.next, h.count
	h.Min, h.Max = lo, hi
	h.N += int64(len(x))
	return nil
}

// near is AMCT's test for an unchanged range (math.isclose with an
// absolute tolerance of FLT_EPSILON): within it, counts add bin by bin.
func near(a, b float32) bool {
	d := math.Abs(float64(a) - float64(b))
	return d <= max(1e-9*max(math.Abs(float64(a)), math.Abs(float64(b))), FltEpsilon)
}

// rebin adds the current counts, over [h.Min, h.Max], to h.next, which bins
// the range [lo, hi] that contains it. Old bins are no wider than new ones,
// so each overlaps at most two.
func (h *HFMGHistogram) rebin(lo, hi float32) {
	nb := len(h.count)
	oldW := (h.Max - h.Min) / float32(nb)
	newW := (hi - lo) / float32(nb)
	for i, c := range h.count {
		if c == 0 {
			continue
		}
		a := h.Min + float32(float32(i)*oldW)
		b := h.Min + float32(float32(i+1)*oldW)
		ia := min(nb-1, floorDiv32(a-lo, newW))
		ib := min(nb-1, floorDiv32(b-lo, newW))
		if ia == ib {
			h.next[ia] += c
			continue
		}
		frac := (lo + float32(float32(ia+1)*newW) - a) / (b - a)
		// Rounding could put frac a hair outside [0, 1]; a count must
		// stay within the bin's.
		low := max(0, min(c, int64(float32(c)*frac)))
		h.next[ia] += low
		h.next[ib] += c - low
	}
}

// floorDiv32 is PyTorch's float32 floor division a // b for a >= 0, b > 0
// (exact remainder, then the rounded quotient of the rest), as an index.
func floorDiv32(a, b float32) int {
	if !(b > 0) {
		return 0
	}
	mod := float32(math.Mod(float64(a), float64(b)))
	div := (a - mod) / b
	fl := float32(math.Floor(float64(div)))
	if div-fl > 0.5 {
		fl++
	}
	return max(0, int(fl))
}

// histc bins x onto len(dst) equal bins over [lo, hi] like PyTorch's histc
// (see histcBinner); values outside the range are not counted.
func histc(x []float32, lo, hi float32, dst []int64) {
	clear(dst)
	b := newHistcBinner(lo, hi, len(dst))
	for _, v := range x {
		if p := b.bin(v); p >= 0 {
			dst[p]++
		}
	}
}

// histcBinner places values into nb equal bins over [lo, hi] like
// PyTorch's histc: a constant range is widened to [lo-1, hi+1]; a value's
// bin is trunc((x-lo)*nb/(hi-lo)) in float32, the top edge falling into the
// last bin.
type histcBinner struct {
	lo, hi, span, fnb float32
	nb                int
}

func newHistcBinner(lo, hi float32, nb int) histcBinner {
	if lo == hi {
		lo, hi = lo-1, hi+1
	}
	return histcBinner{lo: lo, hi: hi, span: hi - lo, fnb: float32(nb), nb: nb}
}

// bin returns v's bin, or -1 when v is outside the range.
func (b histcBinner) bin(v float32) int {
	if !(v >= b.lo && v <= b.hi) {
		return -1
	}
	// The conversions keep every step in float32, as in PyTorch.
	p := int(float32(float32(v-b.lo)*b.fnb) / b.span)
	return min(p, b.nb-1)
}

// HFMG returns the activation scale and offset of AMCT's HFMG algorithm for
// the values in h.
//
// Candidate clipping ranges are runs of whole bins [l, r]. Starting from all
// bins, each step gathers at least ceil(N/100000) values from each end
// (from the left first, never crossing), and the end that had to cross more
// bins to gather them (the sparser tail; the right one on a tie) moves;
// every range so produced is a candidate, until a range spans at most a
// quarter of the bins. Each candidate is scored by the L2 error of
// re-binning the histogram onto 256 equal bins over it: values are taken
// as uniform inside their bin, every value maps to the centre of the
// 256-bin it falls in, and values outside the range to the centre of the
// first or last one (the clipping error). The first candidate with the
// smallest error wins and its edges go through ScaleOffset.
//
// This follows AMCT (docs/design.md "HFMG") rather than the usual summary ("greedy search", a
// histogram whose range widens as batches come), because the aim is AMCT's
// records: AMCT does not stop at the first step that raises the error but
// scores the whole sequence; the full range itself is never a candidate;
// the symmetric case runs the same search and takes max(|l|, |r|) of the
// winning range; and a candidate whose 256-bin width is below FLT_EPSILON
// scores 0 (AMCT's guard for a near-constant tensor).
func HFMG(h *HFMGHistogram, p ActParams) (scale float32, offset int32, err error) {
	if h.N == 0 {
		return 0, 0, fmt.Errorf("hfmg: no activation values were observed")
	}
	if h.Min == h.Max {
		s, o := ScaleOffset(float64(h.Min), float64(h.Max), p.Asymmetric)
		return s, o, nil
	}
	nb := len(h.count)
	bw := (h.Max - h.Min) / float32(nb)
	var nz []int // occupied bins; empty ones add nothing to the error
	for i, c := range h.count {
		if c > 0 {
			nz = append(nz, i)
		}
	}
	best, bestL, bestR := math.Inf(1), -1, -1
	for _, c := range hfmgCandidates(h.count) {
		l, r := c[0], c[1]
		var loss float64
		if bw*float32(r-l+1)/hfmgLevels >= FltEpsilon {
			loss = hfmgLoss(h.count, nz, float64(bw), l, r)
		}
		if math.IsNaN(loss) {
			return 0, 0, fmt.Errorf("hfmg: loss of bins [%d, %d] is NaN", l, r)
		}
		if loss < best {
			best, bestL, bestR = loss, l, r
		}
	}
	if bestL < 0 {
		// One bin: no candidate (impossible for num_of_bins >= 2).
		s, o := ScaleOffset(float64(h.Min), float64(h.Max), p.Asymmetric)
		return s, o, nil
	}
	lo := h.Min + float32(float32(bestL)*bw)
	hi := h.Min + float32(float32(bestR+1)*bw)
	s, o := ScaleOffset(float64(lo), float64(hi), p.Asymmetric)
	return s, o, nil
}

// hfmgCandidates returns HFMG's candidate bin ranges [l, r], in search
// order (see HFMG).
func hfmgCandidates(count []int64) [][2]int {
	var total int64
	for _, c := range count {
		total += c
	}
	step := max(1, (total+hfmgStepDivisor-1)/hfmgStepDivisor)
	minBins := (len(count) + hfmgMinBinRatio - 1) / hfmgMinBinRatio
	var out [][2]int
	l, r := 0, len(count)-1
	for r-l > minBins {
		nl, nr := l, r
		var sl, sr int64
		for nl < nr && sl < step {
			sl += count[nl]
			nl++
		}
		for nl < nr && sr < step {
			sr += count[nr]
			nr--
		}
		if r-nr >= nl-l {
			r = nr
		} else {
			l = nl
		}
		out = append(out, [2]int{l, r})
	}
	return out
}

// hfmgLoss is the L2 error of representing the histogram, bin width bw, by
// 256 equal levels over bins [l, r]: for each occupied bin, of density
// count/bw over its interval, the integral of (x - c)² with c the centre of
// the 256-bin holding x, or of the first/last 256-bin for x outside.
// nz lists the occupied bins.
func hfmgLoss(count []int64, nz []int, bw float64, l, r int) float64 {
	dw := bw * float64(r-l+1) / hfmgLevels
	half := float64(dw / 2)
	level := func(x float64) int { return max(0, min(hfmgLevels-1, int(math.Floor(x/dw)))) }
	// ∫ (x-c)² dx from x = c+u to c+v.
	piece := func(u, v float64) float64 { return (float64(v*v*v) - float64(u*u*u)) / 3 }
	var loss float64
	for _, i := range nz {
		a := float64(float64(i-l) * bw) // bin i relative to the range start
		b := a + bw
		ja, jb := level(a), level(b)
		ca := float64(float64(ja)*dw) + half
		var e float64
		if ja == jb {
			e = piece(a-ca, b-ca)
		} else {
			cb := float64(float64(jb)*dw) + half
			e = piece(a-ca, half) + float64(float64(jb-ja-1)*piece(-half, half)) + piece(-half, b-cb)
		}
		loss += float64(float64(count[i]) / bw * e)
	}
	return loss
}

// checkHFMG validates num_of_bins.
func checkHFMG(p ActParams) error {
	for _, b := range hfmgBins {
		if p.NumOfBins == b {
			return nil
		}
	}
	return fmt.Errorf("hfmg: num_of_bins %d is not one of %v", p.NumOfBins, hfmgBins)
}
