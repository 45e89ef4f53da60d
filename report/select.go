package report

import (
	"cmp"
	"math"
	"slices"
)

// At most this many layers get a balance plot, and a histogram panel.
const (
	maxBalancePlots   = 4
	maxHistogramPlots = 4
)

// balancePlotLayers returns the indices in r.Layers of the layers whose
// balance is plotted: of the layers with balance statistics over more than
// one channel, the first reader of each activation tensor (readers of one
// tensor share its maxima), those whose max|X_j| stand out most (largest
// max/median) first, at most maxBalancePlots.
func balancePlotLayers(r *Report) []int {
	var idx []int
	seen := map[string]bool{}
	for i, l := range r.Layers {
		if l.DMQ != nil && len(l.DMQ.XMax) > 1 && !seen[l.DMQ.Tensor] {
			seen[l.DMQ.Tensor] = true
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(float64(r.Layers[b].DMQ.Spread), float64(r.Layers[a].DMQ.Spread))
	})
	return idx[:min(len(idx), maxBalancePlots)]
}

// histogramPlotLayers returns the indices in r.Layers of the layers whose
// activation histogram is plotted: one layer per observed tensor, the
// lowest SQNR first (layers without one after, in graph order), at most
// maxHistogramPlots.
func histogramPlotLayers(r *Report) []int {
	var idx []int
	seen := map[string]bool{}
	for i, l := range r.Layers {
		if h := l.Histogram; h != nil && len(h.Counts) > 0 && !seen[h.Tensor] {
			seen[h.Tensor] = true
			idx = append(idx, i)
		}
	}
	key := func(i int) float64 {
		if v := float64(r.Layers[i].SQNR); !math.IsNaN(v) {
			return v
		}
		return math.Inf(1)
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(a), key(b)) })
	return idx[:min(len(idx), maxHistogramPlots)]
}
