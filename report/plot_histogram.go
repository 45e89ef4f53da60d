package report

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// histogramPNG draws the activation histograms of layers idx of r, two
// panels a row, counts on a log axis, with the int8 range each layer's
// scale_d and offset_d represent marked.
func histogramPNG(r *Report, idx []int) ([]byte, error) {
	cols := min(2, len(idx))
	rows := (len(idx) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for k, i := range idx {
		if plots[k/cols] == nil {
			plots[k/cols] = make([]*plot.Plot, cols)
		}
		plots[k/cols][k%cols] = histogramPlot(&r.Layers[i])
	}
	title := r.Name + ": activation histograms and int8 ranges (layers with the lowest SQNR)"
	return renderPNG(540*cols, 60+360*rows, func(dc draw.Canvas) {
		tiles(figureTitle(dc, title), plots)
	})
}

// histogramPlot is one layer's histogram panel.
func histogramPlot(l *Layer) *plot.Plot {
	h := l.Histogram
	title := l.Name
	if v := float64(l.SQNR); !math.IsNaN(v) {
		title += ", SQNR " + FormatSQNR(v) + " dB"
	}
	title += fmt.Sprintf("\n%s: int8 range [%.4g, %.4g] (dashed)", h.Algo, h.ClipLo, h.ClipHi)
	what := shorten(h.Tensor, 36)
	if l.Balance != "none" && l.Balance != "" {
		what = "X/s, the balanced input"
	}
	p := newPlot(title, fmt.Sprintf("value of %s (%d values)", what, h.N), "count")
	bars := &plotter.Histogram{FillColor: colorBefore, LogY: true}
	bars.LineStyle.Width = 0
	width := h.Width
	if width == 0 { // every value was 0: draw one thin bar
		width = max(h.ClipHi-h.ClipLo, 1) / 256
	}
	for i, c := range h.Counts {
		lo := h.Lo + float64(i)*width
		if h.Width == 0 {
			lo = -width / 2
		}
		bars.Bins = append(bars.Bins, plotter.HistogramBin{Min: lo, Max: lo + width, Weight: float64(c)})
	}
	top := max(float64(slices.Max(h.Counts)), 1)
	p.Add(bars)
	p.Add(vline(h.ClipLo, 0.5, top*2, colorClip), vline(h.ClipHi, 0.5, top*2, colorClip))
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Y.Min, p.Y.Max = 0.5, top*2
	return p
}

// shorten cuts s to at most n characters, keeping its end (the most
// specific part of an ONNX tensor name).
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
