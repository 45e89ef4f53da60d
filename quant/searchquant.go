package quant

import (
	"fmt"
	"math"
)

// Histogram sizes of the α search's calibrators: every candidate of every
// layer streams X/s into one, so they are smaller than the flow's (IFMR
// 16384 bins, HFMG num_of_bins). IFMR keeps at least 8 bins per int8
// level (the range grows by powers of two, so at least half the bins
// cover the data), which keeps its loss exact for all but about one bin in
// eight; HFMG with 1024 bins (AMCT's smallest num_of_bins) scores 16 times
// fewer bin pairs than with 4096, the cost that dominates it.
const (
	searchIFMRBins = 4096
	searchHFMGBins = 1024
)

// newSearchCalibrator returns the calibrator the α search streams one
// candidate's activation into, for a layer whose act_algo is algo: the
// flow's own algorithm on a smaller histogram (IFMR through searchIFMR,
// which picks what IFMR picks, faster).
func newSearchCalibrator(algo string) (ActCalibrator, error) {
	switch algo {
	case "ifmr":
		return searchIFMRCalibrator{NewHistogram(searchIFMRBins)}, nil
	case "hfmg":
		return hfmgCalibrator{NewHFMGHistogram(searchHFMGBins)}, nil
	}
	return nil, fmt.Errorf("act_algo %q has no α search calibrator", algo)
}

// searchCalibratorBytes is the memory of one calibrator of newSearchCalibrator.
func searchCalibratorBytes(algo string) int {
	if algo == "hfmg" {
		return searchHFMGBins * 16
	}
	return searchIFMRBins * 24
}

// searchIFMRCalibrator streams into a Histogram and calibrates with
// searchIFMR.
type searchIFMRCalibrator struct{ *Histogram }

func (c searchIFMRCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	return searchIFMR(c.Histogram, p)
}

// searchIFMR returns what IFMR(h, p) returns, in time independent of the
// number of bins: the candidate loop is IFMR's, but each candidate's loss
// (Histogram.SquaredError) is summed per run of bins that quantize to one
// level, from prefix sums of the bins' counts, sums and sums of squares,
// and only the bins that straddle a rounding boundary are taken one by one
// (Histogram.binError). Per bin the two sums are equal in exact
// arithmetic; in float64 they differ by rounding, so the choice differs
// from IFMR's only between candidates whose losses are that close.
func searchIFMR(h *Histogram, p ActParams) (scale float32, offset int32, err error) {
	if err := checkIFMR(p); err != nil {
		return 0, 0, err
	}
	if h.N == 0 {
		return 0, 0, fmt.Errorf("ifmr: no activation values were observed")
	}
	maxInit := max(h.Quantile(percentileRank(p.MaxPercentile, h.N)), 0)
	minInit := min(h.Quantile(h.N+1-percentileRank(p.MinPercentile, h.N)), 0)
	pre := newHistPrefix(h)
	best := math.Inf(1)
	for i := range searchSteps(p.SearchRange[0], p.SearchRange[1], p.SearchStep) {
		// IFMR's candidates, in float32 as there.
		r := float32(p.SearchRange[0] + float64(i)*p.SearchStep)
		lo, hi := minInit, float64(r*float32(maxInit))
		if !p.Asymmetric {
			if -minInit > maxInit {
				lo, hi = float64(r*float32(minInit)), 0
			} else {
				lo = 0
			}
		}
		s, o := ScaleOffset(lo, hi, p.Asymmetric)
		if loss := pre.squaredError(s, o); loss < best {
			best, scale, offset = loss, s, o
		}
	}
	return scale, offset, nil
}

// histPrefix holds the prefix sums of a Histogram's bins: n[i], s1[i] and
// s2[i] are the count, sum and sum of squares of the bins below i.
type histPrefix struct {
	h           *Histogram
	n, s1, s2   []float64
	first, last int // the first and last occupied bins
}

func newHistPrefix(h *Histogram) *histPrefix {
	nb := len(h.count)
	p := &histPrefix{h: h, n: make([]float64, nb+1), s1: make([]float64, nb+1), s2: make([]float64, nb+1), first: nb, last: -1}
	for i, c := range h.count {
		p.n[i+1] = p.n[i] + float64(c)
		p.s1[i+1] = p.s1[i] + h.sum[i]
		p.s2[i+1] = p.s2[i] + h.sumSq[i]
		if c > 0 {
			p.first, p.last = min(p.first, i), i
		}
	}
	return p
}

// squaredError is h.SquaredError(s, o) by runs of bins (see searchIFMR).
func (p *histPrefix) squaredError(s float32, o int32) float64 {
	h := p.h
	if h.width == 0 {
		return h.SquaredError(s, o)
	}
	var total float64
	for i := p.first; i <= p.last; {
		// Bin i's lower edge as binError takes it.
		qa := Quantize(max(h.lo+float64(i)*h.width, h.Min), s, o)
		j := p.levelEnd(i, qa, s, o)
		if j < i {
			if h.count[i] > 0 {
				total += h.binError(i, s, o)
			}
			i++
			continue
		}
		// Bins i..j: every value quantizes to qa; sum (x-v)² over them.
		v := Dequantize(qa, s, o)
		c, s1, s2 := p.n[j+1]-p.n[i], p.s1[j+1]-p.s1[i], p.s2[j+1]-p.s2[i]
		total += max(0, s2-2*v*s1+c*v*v)
		i = j + 1
	}
	return total
}

// levelEnd returns the last occupied-range bin j >= i whose upper edge
// (as binError takes it) quantizes to qa, the level of bin i's lower edge,
// or i-1 when bin i's own upper edge quantizes higher. Quantize is
// monotone, so bins i..j lie wholly in level qa.
func (p *histPrefix) levelEnd(i int, qa int8, s float32, o int32) int {
	if qa == qMax {
		return p.last
	}
	h := p.h
	upper := func(j int) int8 { return Quantize(min(h.lo+float64(j+1)*h.width, h.Max), s, o) }
	// Values from (qa - o + 1/2)·s up round above qa: start from the bin
	// just below that edge, then step to the exact end.
	edge := (float64(int32(qa)-o) + 0.5) * float64(s)
	j := p.last
	if f := math.Floor((edge-h.lo)/h.width) - 1; f < float64(p.last) {
		j = int(max(f, float64(i-1)))
	}
	for j < p.last && upper(j+1) == qa {
		j++
	}
	for j >= i && upper(j) != qa {
		j--
	}
	return j
}
