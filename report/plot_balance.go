package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
)

// balancePNG draws the SmoothQuant picture of one balanced layer: max|X_j|
// per activation channel before and after the balance (X_j/s_j) in the
// top row, max|W_j| per input channel before and after (W_j·s_j) in the
// bottom row. Each row has one log scale: the outliers span decades, and
// both the range the balance takes out of the activation and the range it
// puts into the weight show as they are.
func balancePNG(l *Layer) ([]byte, error) {
	d := l.DMQ
	const ach, wch = "activation channel j", "weight input channel j"
	plots := [][]*plot.Plot{
		{
			channelPlot("activation before: max |X_j|", ach, "max |X_j|", d.XMax, colorBefore),
			channelPlot("activation after: max |X_j| / s_j", ach, "max |X_j| / s_j", d.XMaxBalanced, colorAfter),
		},
		{
			channelPlot("weight before: max |W_j|", wch, "max |W_j|", d.WMax, colorBefore),
			channelPlot("weight after: max |W_j| · s_j", wch, "max |W_j| · s_j", d.WMaxBalanced, colorAfter),
		},
	}
	for i, vals := range [][2][]float64{{d.XMax, d.XMaxBalanced}, {d.WMax, d.WMaxBalanced}} {
		lo, hi := logRange(vals[0], vals[1])
		for _, p := range plots[i] {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = logTicks{}
			p.Y.Min, p.Y.Max = lo, hi
		}
	}
	title := fmt.Sprintf("%s, input %s\nDMQ α = %g; max/median of max|X_j| over the channels: %s before, %s after",
		l.Name, d.Tensor, d.MigrationStrength, ratioString(d.Spread), ratioString(d.SpreadBalanced))
	return renderPNG(1000, 700, func(dc draw.Canvas) {
		tiles(figureTitle(dc, title), plots)
	})
}

// channelPlot is one panel of bars, one per channel.
func channelPlot(title, xlabel, ylabel string, values []float64, c color.Color) *plot.Plot {
	p := newPlot(title, xlabel, ylabel)
	p.Add(columns(values, c))
	p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	return p
}

// logRange is a log axis's range for the positive values of xs: from
// half the smallest to twice the largest.
func logRange(xs ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), 0.0
	for _, x := range xs {
		for _, v := range x {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if hi == 0 { // nothing positive: any valid range
		return 0.1, 1
	}
	return lo / 2, hi * 2
}
