package quant

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// hfmgStep is the fraction of the values by which each greedy step moves
// one end of the clipping range (PyTorch's HistogramObserver uses the same).
const hfmgStep = 1e-5

// hfmgBins lists the num_of_bins values AMCT accepts.
var hfmgBins = []int{1024, 2048, 4096, 8192}

// HFMG returns the activation scale and offset of AMCT's HFMG algorithm for
// the values in h, a histogram of num_of_bins bins built over all batches.
//
// The clipping range starts at the bins holding the smallest and largest
// values and shrinks greedily, the idea of PyTorch's HistogramObserver: each
// step drops the next hfmgStep of the values from one end, the end where
// that removes more bins (the sparser tail), and the step is kept while the L2 error of
// re-binning the histogram onto the 256 int8 levels of that range (the
// squared error between x and its quantize-dequantize, evaluated as in
// Histogram.SquaredError) does not grow. The final range is the kept bin
// edges intersected with the exact data range.
func HFMG(h *Histogram, p ActParams) (scale float32, offset int32, err error) {
	if h.N == 0 {
		return 0, 0, fmt.Errorf("hfmg: no activation values were observed")
	}
	if h.width == 0 {
		s, o := ScaleOffset(0, 0, p.Asymmetric)
		return s, o, nil
	}
	nb := len(h.count)
	first, last := -1, -1
	cum := make([]int64, nb) // cum[i] = values in bins 0..i
	var run int64
	for i, c := range h.count {
		run += c
		cum[i] = run
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	total := float64(run)
	if !p.Asymmetric {
		return hfmgSymmetric(h, cum, first, last)
	}
	clip := func(lo, hi int) (float32, int32) {
		a := max(h.Min, h.lo+float64(lo)*h.width)
		b := min(h.Max, h.lo+float64(hi+1)*h.width)
		return ScaleOffset(a, b, p.Asymmetric)
	}
	start, end := first, last
	s, o := clip(start, end)
	best := h.SquaredError(s, o)
	alpha, beta := 0.0, 1.0
	for alpha < beta {
		nextAlpha, nextBeta := alpha+hfmgStep, beta-hfmgStep
		// l: first bin whose cumulative share reaches nextAlpha;
		// r: last bin whose cumulative share stays within nextBeta.
		l := start
		for l < end && float64(cum[l]) < nextAlpha*total {
			l++
		}
		r := end
		for r > start && float64(cum[r]) > nextBeta*total {
			r--
		}
		ns, ne := start, end
		if l-start > end-r {
			ns, alpha = l, nextAlpha
		} else {
			ne, beta = r, nextBeta
		}
		if ns == start && ne == end {
			continue
		}
		cs, co := clip(ns, ne)
		loss := h.SquaredError(cs, co)
		if loss > best {
			break
		}
		best, start, end, s, o = loss, ns, ne, cs, co
	}
	if math.IsNaN(best) {
		return 0, 0, fmt.Errorf("hfmg: loss is NaN")
	}
	return s, o, nil
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

// hfmgSymmetric is the greedy search for a symmetric range [-T, T]: only
// max(|lo|, |hi|) sets the scale, so shrinking one end alone would only add
// clipping error. T walks down the bin edges, each step dropping at least
// the next hfmgStep of the values beyond ±T, while the error does not grow.
func hfmgSymmetric(h *Histogram, cum []int64, first, last int) (float32, int32, error) {
	total := float64(cum[len(cum)-1])
	edge := func(i int) float64 { return h.lo + float64(i)*h.width }
	// Candidate thresholds: the absolute values of the bin edges inside
	// the data, descending; T = max|x| first.
	tMax := max(-h.Min, h.Max)
	cand := []float64{tMax}
	for i := last; i > first; i-- {
		if e := edge(i); e > 0 && e < tMax {
			cand = append(cand, e)
		}
	}
	for i := first + 1; i <= last; i++ {
		if e := -edge(i); e > 0 && e < tMax {
			cand = append(cand, e)
		}
	}
	slices.SortFunc(cand, func(a, b float64) int { return cmp.Compare(b, a) })
	// outside(T) counts the values in bins entirely beyond ±T.
	outside := func(t float64) float64 {
		lo := max(0, min(len(cum)-1, int(math.Floor((-t-h.lo)/h.width)))) // bins < lo are below -T
		hi := max(0, min(len(cum)-1, int(math.Ceil((t-h.lo)/h.width))))   // bins >= hi are above T
		var n int64
		if lo > 0 && edge(lo) <= -t {
			n += cum[lo-1]
		}
		if edge(hi) >= t {
			n += cum[len(cum)-1]
			if hi > 0 {
				n -= cum[hi-1]
			}
		}
		return float64(n)
	}
	s := SymmetricScale(-tMax, tMax)
	best := h.SquaredError(s, 0)
	dropped := 0.0
	for _, t := range cand[1:] {
		out := outside(t) / total
		if out < dropped+hfmgStep {
			continue
		}
		if out >= 0.5 {
			break
		}
		cs := SymmetricScale(-t, t)
		loss := h.SquaredError(cs, 0)
		if loss > best {
			break
		}
		best, s, dropped = loss, cs, out
	}
	return s, 0, nil
}
