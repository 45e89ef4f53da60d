package quant

import (
	"fmt"
	"math"
)

// IFMRBins is the bin count of the histograms that IFMR calibration streams
// activations into. After range growth at least half of them cover the data,
// so the clipping candidates (1% apart by default) are resolved about 80
// times finer than their spacing, and with the per-bin sums (see Histogram)
// the loss is exact for every bin that lies inside one quantization step:
// all but about 255/8192 of the occupied bins.
const IFMRBins = 1 << 14

// IFMR returns the activation scale and offset that AMCT's IFMR algorithm
// picks for the values summarized by h.
//
// The initial clipping range comes from percentiles of the data: max_init is
// the value of ascending rank floor(MaxPercentile*N)+1 (the maximum when
// 1-MaxPercentile < FLT_EPSILON), min_init the value of rank
// N-floor(MinPercentile*N), clamped so that min_init <= 0 <= max_init.
// Then only the maximum is searched, over the ratios r = start + i*step of
// the half-open range [start, end) — AMCT builds them with arange, so the
// default 0.7..1.3 step 0.01 tries 0.70 to 1.29 — with candidate ranges
// [min_init, r*max_init] (symmetric: r*max(|min_init|, |max_init|), divided
// by 128 when the negative end is the larger). The candidate with the least
// mean squared error between x and its quantize-dequantize wins (the first
// one on ties). Unlike AMCT, which keeps every activation in memory, the
// loss is evaluated on the histogram; the calibrator evaluates it on the
// values themselves when they are few (see exactCounts).
func IFMR(h *Histogram, p ActParams) (scale float32, offset int32, err error) {
	return ifmr(h, p)
}

// ifmrValues is what IFMR reads of the values it calibrates: how many there
// are, the value of an ascending rank, and the squared quantization error
// over all of them. A Histogram estimates the last two, exactValues
// computes them.
type ifmrValues interface {
	size() int64
	Quantile(k int64) float64
	SquaredError(s float32, o int32) float64
}

// ifmr is IFMR on any ifmrValues.
func ifmr(h ifmrValues, p ActParams) (scale float32, offset int32, err error) {
	if err := checkIFMR(p); err != nil {
		return 0, 0, err
	}
	n := h.size()
	if n == 0 {
		return 0, 0, fmt.Errorf("ifmr: no activation values were observed")
	}
	maxInit := max(h.Quantile(percentileRank(p.MaxPercentile, n)), 0)
	minInit := min(h.Quantile(n+1-percentileRank(p.MinPercentile, n)), 0)
	steps := searchSteps(p.SearchRange[0], p.SearchRange[1], p.SearchStep)
	bounded, _ := h.(lossBounder)
	best, found := math.Inf(1), false
	for n := range steps {
		i := n
		if bounded != nil {
			// Widest range first: the clipped candidates that come last
			// can then often be ruled out by their bound.
			i = steps - 1 - n
		}
		// float32 candidates, as AMCT computes them.
		r := float32(p.SearchRange[0] + float64(float64(i)*p.SearchStep))
		lo, hi := minInit, float64(r*float32(maxInit))
		if !p.Asymmetric {
			if -minInit > maxInit {
				lo, hi = float64(r*float32(minInit)), 0
			} else {
				lo = 0
			}
		}
		s, o := ScaleOffset(lo, hi, p.Asymmetric)
		if bounded != nil && bounded.lossBound(s, o) > best*(1+1e-6) {
			continue // its loss, above the bound, cannot equal the best
		}
		loss := h.SquaredError(s, o)
		// The least loss wins, the least ratio on ties, whatever the order.
		if loss < best || (loss == best && found && bounded != nil) {
			best, scale, offset, found = loss, s, o, true
		}
	}
	return scale, offset, nil
}

// lossBounder is an ifmrValues that bounds SquaredError from below more
// cheaply than it computes it, so that ifmr can skip candidates that
// cannot win.
type lossBounder interface {
	lossBound(s float32, o int32) float64
}

func checkIFMR(p ActParams) error {
	for _, q := range []struct {
		name string
		v    float64
	}{{"max_percentile", p.MaxPercentile}, {"min_percentile", p.MinPercentile}} {
		if !(q.v > 0.5 && q.v <= 1) {
			return fmt.Errorf("ifmr: %s %v is outside (0.5, 1]", q.name, q.v)
		}
	}
	start, end := p.SearchRange[0], p.SearchRange[1]
	if !(start > 0 && start <= end) || math.IsInf(end, 0) {
		return fmt.Errorf("ifmr: search_range [%v, %v] must satisfy 0 < start <= end", start, end)
	}
	if !(p.SearchStep > 0) {
		return fmt.Errorf("ifmr: search_step %v must be positive", p.SearchStep)
	}
	if searchSteps(start, end, p.SearchStep) > 1e6 {
		return fmt.Errorf("ifmr: search_range [%v, %v] with step %v has too many candidates", start, end, p.SearchStep)
	}
	return nil
}

// searchSteps is the number of ratios start + i*step < end, at least one:
// the length of AMCT's arange(start, end, step).
func searchSteps(start, end, step float64) int {
	return max(1, int(math.Ceil((end-start)/step)))
}

// percentileRank is the 1-based ascending rank of AMCT's percentile value:
// floor(p*n)+1, or n when 1-p < FLT_EPSILON, within [1, n].
func percentileRank(p float64, n int64) int64 {
	if 1-p < FltEpsilon {
		return n
	}
	return max(1, min(n, int64(math.Floor(p*float64(n)))+1))
}

// SquaredError returns the sum over the observed values x of
// (x - FakeQuant(x, s, o))². A bin whose values all quantize to the same
// level (in particular every clipped bin) contributes exactly, through its
// sum and sum of squares; for a bin that straddles a rounding boundary
// that exact value for its mean's level is corrected by the split between
// levels under a uniform spread of the bin's values.
func (h *Histogram) SquaredError(s float32, o int32) float64 {
	if h.width == 0 {
		// Only zeros seen; 0 is exact in every int8 range that contains it.
		return float64(h.zeros) * sq(FakeQuant(0, s, o))
	}
	var total float64
	for i := range h.bins {
		c := h.bins[i].n
		if c == 0 {
			continue
		}
		total += h.binError(i, s, o)
	}
	return total
}

func (h *Histogram) binError(i int, s float32, o int32) float64 {
	c := float64(h.bins[i].n)
	// The values of bin i lie in [a, b], narrowed by the exact extremes.
	a := max(h.lo+float64(float64(i)*h.width), h.Min)
	b := min(h.lo+float64(float64(i+1)*h.width), h.Max)
	qa, qb := Quantize(a, s, o), Quantize(b, s, o)
	if qa == qb {
		// sum (x-v)^2 = S2 - 2 v S1 + c v^2; never negative in exact terms.
		v := Dequantize(qa, s, o)
		return max(0, h.bins[i].sumSq-float64(2*v*h.bins[i].sum)+float64(c*v*v))
	}
	mean := h.bins[i].sum / c
	sd := math.Sqrt(max(0, h.bins[i].sumSq/c-float64(mean*mean)))
	switch h.bins[i].n {
	case 1:
		// One value: it is the sum.
		return sq(mean - FakeQuant(mean, s, o))
	case 2:
		// Two values: mean ± standard deviation, exactly.
		x1, x2 := mean-sd, mean+sd
		return sq(x1-FakeQuant(x1, s, o)) + sq(x2-FakeQuant(x2, s, o))
	}
	// The bin straddles rounding boundaries: take the exact error of
	// quantizing every value to its mean's level v, and correct it by how
	// much the true levels v_k lower it for values spread evenly over the
	// interval that has the bin's mean and variance, [mean-√3σ, mean+√3σ]
	// within [a, b] (sparse bins are far from uniform over the whole bin):
	// the integral of (x-v_k)² - (x-v)² = (v-v_k)(2x-v-v_k) over the piece
	// where level v_k applies, times the density c/(b-a).
	a, b = max(a, mean-float64(math.Sqrt(3)*sd)), min(b, mean+float64(math.Sqrt(3)*sd))
	v := FakeQuant(mean, s, o)
	e := h.bins[i].sumSq - float64(2*v*h.bins[i].sum) + float64(c*v*v)
	if !(b > a) {
		return max(0, e)
	}
	qa, qb = Quantize(a, s, o), Quantize(b, s, o)
	var corr float64
	lo := a
	for q := int32(qa); q <= int32(qb); q++ {
		hi := b
		if q < int32(qb) {
			hi = min(b, (float64(q-o)+0.5)*float64(s)) // level q ends here
		}
		if hi > lo {
			vk := Dequantize(int8(q), s, o)
			corr += float64((v - vk) * (float64(hi*hi) - float64(lo*lo) - float64((v+vk)*(hi-lo))))
		}
		lo = max(lo, hi)
	}
	return max(0, e+corr*c/(b-a))
}

func sq(x float64) float64 { return float64(x * x) }
