package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"
)

// pngStats decodes a PNG and counts its non-white pixels and the pixels
// close to each colour of want.
func pngStats(t *testing.T, path string, want ...color.RGBA) (img image.Image, ink float64, hits []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err = png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	hits = make([]int, len(want))
	bd := img.Bounds()
	n := 0
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
				n++
			}
			for k, c := range want {
				if near(r>>8, c.R) && near(g>>8, c.G) && near(b>>8, c.B) {
					hits[k]++
				}
			}
		}
	}
	return img, float64(n) / float64(bd.Dx()*bd.Dy()), hits
}

func near(a uint32, b uint8) bool { return a+3 >= uint32(b) && a <= uint32(b)+3 }

// TestPlotsAreImagesOfTheirSizeWithTheirContent decodes every PNG of a
// run's report: the size each figure has, some ink but mostly white, and
// the colours of what each must show (layer bars and the graph output's
// bar; before and after the balance; the int8 range).
func TestPlotsAreImagesOfTheirSizeWithTheirContent(t *testing.T) {
	t.Parallel()
	run := runCNN(t)
	n := len(run.report.Layers) + len(run.report.Outputs)
	for _, tc := range []struct {
		file string
		w, h int
		show []color.RGBA
	}{
		{"_report_sqnr.png", 820, 120 + 23*n, []color.RGBA{colorBefore, colorOutput}},
		{"_report_balance_1.png", 1000, 700, []color.RGBA{colorBefore, colorAfter}},
		{"_report_balance_2.png", 1000, 700, []color.RGBA{colorBefore, colorAfter}},
		{"_report_balance_3.png", 1000, 700, []color.RGBA{colorBefore, colorAfter}},
		{"_report_histograms.png", 2 * 540, 60 + 2*360, []color.RGBA{colorBefore, colorClip}},
	} {
		img, ink, hits := pngStats(t, run.prefix+tc.file, tc.show...)
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: %dx%d, want %dx%d", tc.file, b.Dx(), b.Dy(), tc.w, tc.h)
		}
		if ink < 0.03 || ink > 0.6 {
			t.Errorf("%s: %.1f%% of the pixels are not white", tc.file, 100*ink)
		}
		for k, c := range tc.show {
			if hits[k] < 200 {
				t.Errorf("%s: %d pixels of colour %v, want a visible area", tc.file, hits[k], c)
			}
		}
		t.Logf("%s: %dx%d, %.1f%% ink, colour pixels %v", tc.file, tc.w, tc.h, 100*ink, hits)
	}
	// /conv1/Conv has one channel: no balance picture for it.
	if _, err := os.Stat(run.prefix + "_report_balance_4.png"); err == nil {
		t.Error("a balance plot of a one-channel activation")
	}
	md, err := os.ReadFile(run.prefix + "_report.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cnn_report_sqnr.png", "cnn_report_balance_1.png", "cnn_report_histograms.png"} {
		if !strings.Contains(string(md), "]("+f+")") {
			t.Errorf("the Markdown does not show %s", f)
		}
	}
}

// TestPlotSelectionPrefersOutliersAndLowSQNR checks which layers get
// figures: balance pictures for the largest spread, one per tensor, and
// histograms for the lowest SQNR, NaN last.
func TestPlotSelectionPrefersOutliersAndLowSQNR(t *testing.T) {
	t.Parallel()
	dmq := func(tensor string, x ...float64) *DMQ {
		return &DMQ{Tensor: tensor, XMax: x, Spread: Number(spread(x))}
	}
	nan := Number(math.NaN())
	r := &Report{Layers: []Layer{
		{Name: "a", DMQ: dmq("t1", 1, 1, 2), SQNR: 30, Histogram: &Histogram{Tensor: "t1", Counts: []int64{1}}},
		{Name: "b", DMQ: dmq("t1", 1, 1, 2), SQNR: 10, Histogram: &Histogram{Tensor: "t1", Counts: []int64{1}}},
		{Name: "c", DMQ: dmq("t2", 1, 1, 100), SQNR: 20, Histogram: &Histogram{Tensor: "t2", Counts: []int64{1}}},
		{Name: "d", DMQ: dmq("t3", 5), SQNR: nan, Histogram: &Histogram{Tensor: "t3", Counts: []int64{1}}},
		{Name: "e", SQNR: 5, Histogram: &Histogram{Tensor: "t4", Counts: []int64{1}}},
		{Name: "f", SQNR: 1, Histogram: &Histogram{Tensor: "t5"}},
	}}
	names := func(idx []int) string {
		var s []string
		for _, i := range idx {
			s = append(s, r.Layers[i].Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(balancePlotLayers(r)); got != "c,a" {
		t.Errorf("balance plots for %s, want c,a (c stands out most; b shares a's tensor; d has one channel)", got)
	}
	if got := names(histogramPlotLayers(r)); got != "e,c,a,d" {
		t.Errorf("histograms for %s, want e,c,a,d (lowest SQNR first, one per tensor, NaN last, f has no bins)", got)
	}
}
