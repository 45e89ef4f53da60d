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
// the value of ascending rank ceil(MaxPercentile*N), min_init the value of
// rank N+1-ceil(MinPercentile*N), clamped so that min_init <= 0 <= max_init.
// Then only the maximum is searched: for r = start, start+step, ..., end the
// candidate range [min_init, max_init*r] gives (scale, offset), and the
// candidate with the least mean squared error between x and its
// quantize-dequantize wins (the first one on ties). Unlike AMCT, which keeps
// every activation in memory, the loss is evaluated on the histogram.
func IFMR(h *Histogram, p ActParams) (scale float32, offset int32, err error) {
	if err := checkIFMR(p); err != nil {
		return 0, 0, err
	}
	if h.N == 0 {
		return 0, 0, fmt.Errorf("ifmr: no activation values were observed")
	}
	maxInit := max(h.Quantile(percentileRank(p.MaxPercentile, h.N)), 0)
	minInit := min(h.Quantile(h.N+1-percentileRank(p.MinPercentile, h.N)), 0)
	steps := searchSteps(p.SearchRange[0], p.SearchRange[1], p.SearchStep)
	best := math.Inf(1)
	for i := range steps {
		r := p.SearchRange[0] + float64(i)*p.SearchStep
		s, o := ScaleOffset(minInit, maxInit*r, p.Asymmetric)
		if loss := h.SquaredError(s, o); loss < best {
			best, scale, offset = loss, s, o
		}
	}
	return scale, offset, nil
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

// searchSteps is the number of ratios start + i*step <= end. The small
// tolerance makes 0.7..1.3 step 0.01 give 61 ratios despite rounding.
func searchSteps(start, end, step float64) int {
	return int(math.Floor((end-start)/step+1e-9)) + 1
}

// percentileRank is the 1-based ascending rank ceil(p*n), in [1, n]. The
// relative tolerance keeps p*n that is an integer up to rounding from
// moving to the next rank.
func percentileRank(p float64, n int64) int64 {
	x := p * float64(n)
	k := int64(math.Ceil(x - 1e-12*x))
	return max(1, min(n, k))
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
	for i, c := range h.count {
		if c == 0 {
			continue
		}
		total += h.binError(i, s, o)
	}
	return total
}

func (h *Histogram) binError(i int, s float32, o int32) float64 {
	c := float64(h.count[i])
	// The values of bin i lie in [a, b], narrowed by the exact extremes.
	a := max(h.lo+float64(i)*h.width, h.Min)
	b := min(h.lo+float64(i+1)*h.width, h.Max)
	qa, qb := Quantize(a, s, o), Quantize(b, s, o)
	if qa == qb {
		// sum (x-v)^2 = S2 - 2 v S1 + c v^2; never negative in exact terms.
		v := Dequantize(qa, s, o)
		return max(0, h.sumSq[i]-2*v*h.sum[i]+c*v*v)
	}
	// The bin straddles rounding boundaries: take the exact error of
	// quantizing every value to its mean's level v, and correct it by how
	// much the true levels v_k lower it for values spread evenly over
	// [a, b]: the integral of (x-v_k)² - (x-v)² = (v-v_k)(2x-v-v_k) over
	// the piece where level v_k applies, times the density c/(b-a).
	v := FakeQuant(h.sum[i]/c, s, o)
	e := h.sumSq[i] - 2*v*h.sum[i] + c*v*v
	var corr float64
	lo := a
	for q := int32(qa); q <= int32(qb); q++ {
		hi := b
		if q < int32(qb) {
			hi = min(b, (float64(q-o)+0.5)*float64(s)) // level q ends here
		}
		if hi > lo {
			vk := Dequantize(int8(q), s, o)
			corr += (v - vk) * ((hi*hi - lo*lo) - (v+vk)*(hi-lo))
		}
		lo = max(lo, hi)
	}
	return max(0, e+corr*c/(b-a))
}

func sq(x float64) float64 { return x * x }
