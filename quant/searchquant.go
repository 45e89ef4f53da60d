package quant

import (
	"fmt"
	"math"
	"sync"

	"amq/onnx"
)

// searchIFMRBins is the histogram size of IFMR in the α search, a quarter
// of the flow's, so that 21 candidates' histograms build fast. Built from
// one batch, the bins span [min(0, Min), max(0, Max)] exactly: about 16
// bins per int8 level over the range, so IFMR's loss stays exact for all
// but the one bin in 16 or so that straddles a rounding boundary.
const searchIFMRBins = IFMRBins / 4

// searchHFMGBins is the histogram size of HFMG in the α search, whatever
// the layer's num_of_bins: HFMG scores about num_of_bins²/2 pairs of
// ranges and bins, 16 times fewer with 1024 bins (AMCT's smallest
// num_of_bins) than with 4096, which is what makes 21 candidates per layer
// affordable.
const searchHFMGBins = 1024

// newSearchCalibrator returns the calibrator the α search puts one
// candidate's activation rows into, for a layer whose act_algo is algo:
// IFMR on searchIFMRBins bins through searchIFMR, which picks what IFMR
// picks, faster; HFMG on searchHFMGBins bins.
func newSearchCalibrator(algo string) (ActCalibrator, error) {
	if err := checkSearchAlgo(algo); err != nil {
		return nil, err
	}
	if algo == "ifmr" {
		return searchIFMRCalibrator{NewHistogram(searchIFMRBins)}, nil
	}
	return newHFMGCalibrator(searchHFMGBins), nil
}

// checkSearchAlgo checks that the α search has a calibrator for act_algo
// algo (newSearchCalibrator), without making one.
func checkSearchAlgo(algo string) error {
	switch algo {
	case "ifmr", "hfmg":
		return nil
	}
	return fmt.Errorf("act_algo %q has no α search calibrator", algo)
}

// observeRows puts a candidate's rows in into calibrator cal; finite says
// that lo and hi are the least and greatest of them, which actFactors
// found while dividing them, so that the search's IFMR histogram need not
// look for them again. Rows with a NaN or infinity go through Observe,
// which names the first.
func observeRows(cal ActCalibrator, in *onnx.Tensor, lo, hi float64, finite bool) error {
	ic, ok := cal.(searchIFMRCalibrator)
	if !ok || !finite || in.Len() == 0 {
		return cal.Observe(in)
	}
	x, err := onnx.Data[float32](in)
	if err != nil {
		return err
	}
	ic.addWithin(x, lo, hi)
	return nil
}

// searchIFMRCalibrator streams into a Histogram and calibrates with
// searchIFMR.
type searchIFMRCalibrator struct{ *Histogram }

func (c searchIFMRCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	return searchIFMR(c.Histogram, p)
}

// searchIFMR returns what IFMR(h, p) returns, each candidate's loss in
// time that grows with the int8 levels rather than the bins: the candidate
// loop is IFMR's, but the loss (Histogram.SquaredError) is summed per run
// of bins that quantize to one level, from prefix sums of the bins'
// counts, sums and sums of squares, and only the bins that straddle a
// rounding boundary are taken one by one, by binError's formula
// (straddleError). The two sums are equal in exact arithmetic; in float64
// they differ by rounding, so the choice differs from IFMR's only between
// candidates whose losses are that close. Candidates whose clipped bins
// alone lose more than the best so far are skipped (clipBound, ifmr's
// lossBounder).
func searchIFMR(h *Histogram, p ActParams) (scale float32, offset int32, err error) {
	pre := newHistPrefix(h)
	defer prefixPool.Put(pre)
	return ifmr(prefixLoss{h, pre}, p)
}

// prefixLoss is a Histogram whose SquaredError comes from prefix sums.
type prefixLoss struct {
	*Histogram
	pre *histPrefix
}

func (v prefixLoss) SquaredError(s float32, o int32) float64 { return v.pre.squaredError(s, o) }

func (v prefixLoss) lossBound(s float32, o int32) float64 { return v.pre.clipBound(s, o) }

// clipBound is a lower bound of squaredError(s, o): the error of the bins
// that lie wholly above the top level or wholly below the bottom one, all
// of whose values quantize to that level, from the prefix sums (a bin to
// spare on each side against rounding in the bin arithmetic).
func (p *histPrefix) clipBound(s float32, o int32) float64 {
	h := p.h
	if h.width == 0 || p.last < 0 {
		return 0
	}
	inv := 1 / h.width
	var b float64
	top := Dequantize(qMax, s, o)
	if f := math.Floor((top-h.lo)*inv) + 2; f <= float64(p.last) {
		b += p.levelError(max(int(f), p.first), p.last+1, top)
	}
	bottom := Dequantize(qMin, s, o)
	if f := math.Floor((bottom-h.lo)*inv) - 1; f > float64(p.first) {
		b += p.levelError(p.first, int(f), bottom)
	}
	return b
}

// levelError is the squared error of bins i..j-1 (i < j) when all their
// values quantize to v.
func (p *histPrefix) levelError(i, j int, v float64) float64 {
	lo, hi := p.sums[i], p.sums[j]
	c, s1, s2 := hi.n-lo.n, hi.s1-lo.s1, hi.s2-lo.s2
	return max(0, s2-float64(2*v*s1)+float64(c*v*v)) // rounded as on amd64 (no fused multiply-add)
}

// histPrefix holds what searchIFMR's losses need of a Histogram: the
// prefix sums of its bins and, for each bin of three values or more, what
// binError derives from it whatever the scale (its interval narrowed by
// the extremes, and the uniform spread with its mean and variance).
type histPrefix struct {
	h      *Histogram
	sums   []binSums   // sums[i]: the count, sum and sum of squares of the bins below i
	spread []binSpread // by bin, for bins of three values or more
	// first and last are the first and last occupied bins.
	first, last int
}

// binSums are a count, sum and sum of squares, kept together so that one
// lookup reads them.
type binSums struct{ n, s1, s2 float64 }

// binSpread is a bin as binError sees it: its values lie in [a, b], and
// spread evenly, with their mean and variance, over [lo, hi], at density
// dens (count per unit) when hi > lo.
type binSpread struct{ a, b, mean, lo, hi, dens float64 }

// prefixPool keeps histPrefix buffers between searchIFMR calls: the α
// search makes 21 per layer.
var prefixPool = sync.Pool{New: func() any { return new(histPrefix) }}

// newHistPrefix fills a histPrefix for h, reusing the buffers of one from
// prefixPool; put it back when done.
func newHistPrefix(h *Histogram) *histPrefix {
	nb := len(h.bins)
	p := prefixPool.Get().(*histPrefix)
	if cap(p.sums) < nb+1 {
		p.sums, p.spread = make([]binSums, nb+1), make([]binSpread, nb)
	}
	// Entries of bins with fewer than three values stay stale: unread.
	p.sums, p.spread = p.sums[:nb+1], p.spread[:nb]
	p.h, p.first, p.last = h, nb, -1
	p.sums[0] = binSums{}
	for i := range h.bins {
		n := h.bins[i].n
		q := p.sums[i]
		p.sums[i+1] = binSums{q.n + float64(n), q.s1 + h.bins[i].sum, q.s2 + h.bins[i].sumSq}
		if n > 0 {
			p.first, p.last = min(p.first, i), i
		}
		if n >= 3 && h.width > 0 {
			// As binError computes them.
			c := float64(n)
			sp := binSpread{a: max(h.lo+float64(float64(i)*h.width), h.Min), b: min(h.lo+float64(float64(i+1)*h.width), h.Max), mean: h.bins[i].sum / c}
			sd := math.Sqrt(max(0, h.bins[i].sumSq/c-float64(sp.mean*sp.mean)))
			sp.lo, sp.hi = max(sp.a, sp.mean-float64(math.Sqrt(3)*sd)), min(sp.b, sp.mean+float64(math.Sqrt(3)*sd))
			if sp.hi > sp.lo {
				sp.dens = c / (sp.hi - sp.lo)
			}
			p.spread[i] = sp
		}
	}
	return p
}

// squaredError is h.SquaredError(s, o) by runs of bins (see searchIFMR).
// For each rounding boundary between the levels k and k+1 of the occupied
// range, (k - o + 1/2)·s, the bin that holds it is found by arithmetic,
// independently of the others; the bins between two such bins lie in one
// level and are summed from the prefix sums, the bin itself by
// straddleError.
func (p *histPrefix) squaredError(s float32, o int32) float64 {
	h := p.h
	if h.width == 0 || p.last < 0 {
		return h.SquaredError(s, o)
	}
	inv := 1 / h.width
	// The levels of the lower edge of the first occupied bin and of the
	// upper edge of the last, as binError takes the edges.
	kFirst := Quantize(max(h.lo+float64(float64(p.first)*h.width), h.Min), s, o)
	kLast := Quantize(min(h.lo+float64(float64(p.last+1)*h.width), h.Max), s, o)
	var total float64
	run := func(i, j int, k int8) { // bins i..j-1, all in level k
		v := Dequantize(k, s, o)
		lo, hi := p.sums[i], p.sums[j]
		c, s1, s2 := hi.n-lo.n, hi.s1-lo.s1, hi.s2-lo.s2
		total += max(0, s2-float64(2*v*s1)+float64(c*v*v))
	}
	start := p.first // the first bin not yet summed
	for k := int32(kFirst); k < int32(kLast); k++ {
		edge := float64((float64(k-o) + 0.5) * float64(s))
		f := math.Floor((edge - h.lo) * inv)
		if f > float64(p.last) {
			break // the boundaries above the data
		}
		j := int(max(f, -1))
		if j < start {
			continue // a bin already summed as straddling holds it
		}
		if j > start {
			run(start, j, int8(k))
		}
		if h.bins[j].n > 0 {
			total += p.straddleError(j, int8(k), s, o)
		}
		start = j + 1
	}
	if start <= p.last {
		// Above the last boundary found: the level of those bins.
		run(start, p.last+1, Quantize(max(h.lo+float64(float64(start)*h.width), h.Min), s, o))
	}
	return total
}

// straddleError is h.binError(j, s, o) for bin j, which holds the rounding
// boundary above level k: binError's formula for a bin of at least three
// values that straddles one boundary (the error at the mean's level,
// corrected for the part of the uniform spread on the other side), with
// the side of each point found by comparing it with the boundary instead
// of by Quantize (also for binError's exact cases of one and two values).
// The two differ only for a point exactly on the boundary, which Quantize
// rounds half to even; such bins, and bins that reach another boundary,
// go to binError.
func (p *histPrefix) straddleError(j int, k int8, s float32, o int32) float64 {
	h := p.h
	edge := float64((float64(int32(k)-o) + 0.5) * float64(s))
	vk, vk1 := Dequantize(k, s, o), Dequantize(k+1, s, o)
	level := func(x float64) float64 { // x's level, x not on the boundary
		if x > edge {
			return vk1
		}
		return vk
	}
	if n := h.bins[j].n; n < 3 {
		// binError's exact cases: one value (the sum), or two (mean ± sd).
		c := float64(n)
		mean := h.bins[j].sum / c
		sd := math.Sqrt(max(0, h.bins[j].sumSq/c-float64(mean*mean)))
		x1, x2 := mean, mean
		if n == 2 {
			x1, x2 = mean-sd, mean+sd
		}
		if x1 == edge || x2 == edge || x1 <= edge-float64(s) || x2 >= edge+float64(s) {
			return h.binError(j, s, o)
		}
		e := sq(x1 - level(x1))
		if n == 2 {
			e += sq(x2 - level(x2))
		}
		return e
	}
	sp := &p.spread[j]
	if sp.a >= edge || sp.b >= edge+float64(s) || sp.mean == edge {
		return h.binError(j, s, o)
	}
	v := level(sp.mean)
	e := h.bins[j].sumSq - float64(2*v*h.bins[j].sum) + float64(float64(h.bins[j].n)*v*v)
	if !(sp.hi > sp.lo) {
		return max(0, e)
	}
	a, b := sp.lo, sp.hi
	var corr float64
	switch {
	case !(a < edge && edge < b):
		// The spread stays on the mean's side.
	case v == vk: // the part above the boundary goes to level k+1
		corr = (v - vk1) * (float64(b*b) - float64(edge*edge) - float64((v+vk1)*(b-edge)))
	default: // the part below goes to level k
		corr = (v - vk) * (float64(edge*edge) - float64(a*a) - float64((v+vk)*(edge-a)))
	}
	return max(0, e+float64(corr*sp.dens))
}
