package report

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// dpi is the resolution of every PNG.
const dpi = 96

// Colours of the plots: what was (grey-blue) and what the balance made of
// it (orange), graph outputs (green), the int8 range (red).
var (
	colorBefore = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	colorAfter  = color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}
	colorOutput = color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff}
	colorClip   = color.RGBA{R: 0xc4, G: 0x2e, B: 0x2e, A: 0xff}
)

// newPlot returns a plot with amq's text sizes and a grid.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // the image is white already
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(10)
		a.Tick.Label.Font.Size = vg.Points(9)
		a.Tick.Marker = shortTicks{}
	}
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 0xe0}
	g.Horizontal.Color = color.Gray{Y: 0xe0}
	p.Add(g)
	return p
}

// renderPNG draws a figure of w × h pixels with drawFig and returns it as
// PNG.
func renderPNG(w, h int, drawFig func(dc draw.Canvas)) ([]byte, error) {
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }
	img := vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(dpi))
	dc := draw.New(img) // white already
	// A margin, so that no label touches the edge of the image.
	m := vg.Points(8)
	drawFig(draw.Crop(dc, m, -m, m, -m))
	var buf bytes.Buffer
	// The fastest compression: twice as fast as the default for 5 % more
	// bytes on these flat-coloured figures.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img.Image()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// figureTitle draws a title line at the top of dc and returns the canvas
// below it.
func figureTitle(dc draw.Canvas, title string) draw.Canvas {
	sty := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, vg.Points(12)),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y}, title)
	below := dc
	below.Max.Y -= sty.Height(title) + vg.Points(10)
	return below
}

// tiles draws plots in a grid of rows × cols on dc (nil plots leave a gap).
func tiles(dc draw.Canvas, plots [][]*plot.Plot) {
	t := draw.Tiles{
		Rows: len(plots), Cols: len(plots[0]),
		PadX: vg.Points(18), PadY: vg.Points(14),
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadBottom: vg.Points(6), PadTop: vg.Points(2),
	}
	cs := plot.Align(plots, t, dc)
	for i, row := range plots {
		for j, p := range row {
			if p != nil {
				p.Draw(cs[i][j])
			}
		}
	}
}

// columns draws values as one bar per index j (centred on j), for
// per-channel plots; a bar of 0 is not drawn (a log axis has no 0).
func columns(values []float64, c color.Color) *plotter.Histogram {
	h := &plotter.Histogram{FillColor: c, Width: 0.8}
	for j, v := range values {
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: float64(j) - 0.4, Max: float64(j) + 0.4, Weight: v})
	}
	// Outlines would blacken hundreds of thin bars.
	h.LineStyle.Width = 0
	return h
}

// hbars is a horizontal bar per row i (row 0 at the bottom), from 0 to
// Values[i], in Colors[i]; NaN or infinite values draw no bar.
type hbars struct {
	Values []float64
	Colors []color.Color
}

// Plot implements plot.Plotter.
func (b hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		x0, x1 := trX(0), trX(v)
		y0, y1 := trY(float64(i)-0.35), trY(float64(i)+0.35)
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.Colors[i], c.ClipPolygonXY(pts))
	}
}

// DataRange implements plot.DataRanger: from 0 to the extreme finite
// values.
func (b hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, v := range b.Values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			xmin, xmax = min(xmin, v), max(xmax, v)
		}
	}
	return xmin, xmax, -0.5, float64(len(b.Values)) - 0.5
}

// vline is a dashed vertical line at x from y0 to y1.
func vline(x, y0, y1 float64, c color.Color) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}})
	l.Color = c
	l.Width = vg.Points(1.5)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	return l
}

// logTicks marks a log axis: powers of ten when it spans three decades or
// more, else 1, 2 and 5 times them, so that a narrow axis gets labels too;
// unlabelled minor ticks at the other integer multiples.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0 && hi > lo) {
		return nil
	}
	major := []float64{1}
	if math.Log10(hi/lo) < 3 {
		major = []float64{1, 2, 5}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1.0; m <= 9; m++ {
			v := m * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if slices.Contains(major, m) {
				t.Label = tickLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// shortTicks are gonum's default ticks labelled in the shortest form
// ("25", not "25.00").
type shortTicks struct{}

// Ticks implements plot.Ticker.
func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = tickLabel(t.Value)
		}
	}
	return ticks
}

// tickLabel writes v in at most 10 significant digits, so that rounding
// noise of the tick arithmetic does not show ("0.3", "10000").
func tickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
