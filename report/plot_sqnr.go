package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// hasSQNR reports whether r has an SQNR to plot (not with --no-eval).
func hasSQNR(r *Report) bool {
	for _, l := range r.Layers {
		if !math.IsNaN(float64(l.SQNR)) {
			return true
		}
	}
	for _, o := range r.Outputs {
		if !math.IsNaN(float64(o.SQNR)) {
			return true
		}
	}
	return false
}

// sqnrPNG plots the SQNR of every quantized layer's output, then of every
// graph output, as horizontal bars from the top in graph order, with each
// value written at its bar ("exact" for a lossless one).
func sqnrPNG(r *Report) ([]byte, error) {
	type row struct {
		name string
		db   float64
		c    color.Color
	}
	var rows []row
	for _, l := range r.Layers {
		rows = append(rows, row{l.Name, float64(l.SQNR), colorBefore})
	}
	for _, o := range r.Outputs {
		rows = append(rows, row{"graph output " + o.Name, float64(o.SQNR), colorOutput})
	}
	n := len(rows)
	bars := hbars{Values: make([]float64, n), Colors: make([]color.Color, n)}
	names := make([]string, n)
	lab := plotter.XYLabels{XYs: make(plotter.XYs, n), Labels: make([]string, n)}
	xmax := 0.0
	for k, rw := range rows {
		i := n - 1 - k // the first row at the top
		bars.Values[i], bars.Colors[i], names[i] = rw.db, rw.c, rw.name
		if !math.IsNaN(rw.db) && !math.IsInf(rw.db, 0) {
			xmax = max(xmax, rw.db)
		}
	}
	for k, rw := range rows {
		i := n - 1 - k
		x, text := rw.db, fmt.Sprintf("%.1f", rw.db)
		switch {
		case math.IsNaN(rw.db):
			x, text = 0, "-"
		case math.IsInf(rw.db, 1):
			x, text = 0, "exact"
		case rw.db < 0:
			x = 0
		}
		lab.XYs[i] = plotter.XY{X: x, Y: float64(i)}
		lab.Labels[i] = text
	}
	p := newPlot(r.Name+": SQNR of each quantized layer's output vs float", "SQNR (dB), fake-quant vs float model on the calibration data", "")
	p.Add(bars)
	labels, err := plotter.NewLabels(lab)
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font.Size = vg.Points(8)
		labels.TextStyle[i].YAlign = draw.YCenter
	}
	labels.Offset = vg.Point{X: vg.Points(3)}
	p.Add(labels)
	p.NominalY(names...)
	p.Y.Tick.Label.Font.Size = vg.Points(9)
	p.X.Min = min(0, p.X.Min)
	p.X.Max = max(xmax*1.12, 1) // room for the value labels
	return renderPNG(820, 120+23*n, func(dc draw.Canvas) { p.Draw(dc) })
}
