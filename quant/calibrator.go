package quant

import (
	"fmt"
	"strings"

	"amq/onnx"
)

// An ActCalibrator accumulates one activation tensor's statistics, batch by
// batch, and derives its quantization factors from them.
type ActCalibrator interface {
	// Observe adds one batch of the tensor.
	Observe(t *onnx.Tensor) error
	// ScaleOffset returns the int8 scale and offset for the values
	// observed so far under the layer parameters p.
	ScaleOffset(p ActParams) (scale float32, offset int32, err error)
}

// actAlgorithm is one act_algo of the layer config.
type actAlgorithm struct {
	name string
	// check validates a layer's parameters, before any batch runs.
	check func(p ActParams) error
	// bins is the histogram size p calls for.
	bins func(p ActParams) int
	// calibrator returns an empty calibrator with that many bins.
	calibrator func(bins int) ActCalibrator
}

// actAlgorithms lists the act_algo values in AMCT's order, its default
// first; messages list them in this order.
var actAlgorithms = []*actAlgorithm{
	{
		name:       "ifmr",
		check:      checkIFMR,
		bins:       func(ActParams) int { return IFMRBins },
		calibrator: func(bins int) ActCalibrator { return ifmrCalibrator{NewHistogram(bins), newExactCounts(ExactLimit)} },
	},
	{
		name:       "hfmg",
		check:      checkHFMG,
		bins:       func(p ActParams) int { return p.NumOfBins },
		calibrator: newHFMGCalibrator,
	},
}

// lookupActAlgorithm returns the algorithm called name.
func lookupActAlgorithm(name string) (*actAlgorithm, error) {
	names := make([]string, len(actAlgorithms))
	for i, a := range actAlgorithms {
		if a.name == name {
			return a, nil
		}
		names[i] = a.name
	}
	return nil, fmt.Errorf("unknown activation algorithm %q (want %s)", name, orList(names))
}

// calibratorKey identifies a calibrator. Layers that read the same tensor
// with the same algorithm and histogram size share one: its statistics do
// not depend on the rest of their parameters.
type calibratorKey struct {
	tensor string
	algo   string
	bins   int
}

// key returns the key of the calibrator for a layer that reads tensor with
// parameters p.
func (a *actAlgorithm) key(tensor string, p ActParams) calibratorKey {
	return calibratorKey{tensor, a.name, a.bins(p)}
}

// ifmrCalibrator streams into a Histogram and, while the tensor has taken
// at most ExactLimit distinct values, into exact counts too; IFMR runs on
// the counts while they last, else on the histogram, which saw every batch
// from the start.
type ifmrCalibrator struct {
	*Histogram
	exact *exactCounts
}

func (c ifmrCalibrator) Observe(t *onnx.Tensor) error {
	return observeExact(t, c.Histogram.Add, c.exact)
}

// observeExact passes t's values to a calibrator's histogram by add and,
// once the histogram took them (it refuses non-finite values), to its
// exact counts.
func observeExact(t *onnx.Tensor, add func([]float32) error, exact *exactCounts) error {
	return addFloats(t, func(x []float32) error {
		if err := add(x); err != nil {
			return err
		}
		exact.add(x)
		return nil
	})
}

func (c ifmrCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	if v, ok := c.exact.values(); ok {
		return ifmr(v, p)
	}
	return IFMR(c.Histogram, p)
}

// hfmgCalibrator streams into an HFMGHistogram and, like ifmrCalibrator,
// into exact counts while the values are few; HFMG then runs on the
// histogram of the counts over their exact range, which does not depend on
// how the values came in batches, else on the streamed histogram.
type hfmgCalibrator struct {
	*HFMGHistogram
	exact *exactCounts
}

// newHFMGCalibrator returns an empty hfmgCalibrator of the given bins.
func newHFMGCalibrator(bins int) ActCalibrator {
	return hfmgCalibrator{NewHFMGHistogram(bins), newExactCounts(ExactLimit)}
}

func (c hfmgCalibrator) Observe(t *onnx.Tensor) error {
	return observeExact(t, c.HFMGHistogram.Add, c.exact)
}

func (c hfmgCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	return HFMG(c.histogram(), p)
}

// histogram is the histogram HFMG runs on: that of the exact counts when
// there are some, else the streamed one.
func (c hfmgCalibrator) histogram() *HFMGHistogram {
	if v, ok := c.exact.values(); ok {
		return v.hfmgHistogram(c.Bins())
	}
	return c.HFMGHistogram
}

// weightAlgorithm is one wts_algo of the layer config.
type weightAlgorithm struct {
	name string
	// scales returns the weight scales of a layer of type op (see ARQ).
	scales func(op string, n *onnx.Node, w *onnx.Tensor, channelWise bool) ([]float32, error)
}

// weightAlgorithms lists the wts_algo values, the default (an empty
// wts_algo) first.
var weightAlgorithms = []*weightAlgorithm{
	{name: "arq_quantize", scales: ARQ},
}

// lookupWeightAlgorithm returns the algorithm called name, or the default
// when name is empty.
func lookupWeightAlgorithm(name string) (*weightAlgorithm, error) {
	if name == "" {
		return weightAlgorithms[0], nil
	}
	names := make([]string, len(weightAlgorithms))
	for i, a := range weightAlgorithms {
		if a.name == name {
			return a, nil
		}
		names[i] = a.name
	}
	return nil, fmt.Errorf("unknown weight algorithm %q (want %s)", name, orList(names))
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// ActHistogramBins bounds the bins of an ActHistogram.
const ActHistogramBins = 256

// ActHistogram summarizes the histogram a layer's activation was calibrated
// from, for reports and plots: at most ActHistogramBins bins of equal width,
// each the exact sum of whole bins of the calibrator's own histogram, over
// the occupied part of its range.
type ActHistogram struct {
	// Tensor is the tensor observed: the layer's input in the model
	// calibration ran, so for a balanced layer the output of its balance
	// Mul (X/s), which is what scale_d and offset_d quantize.
	Tensor string
	Algo   string // the act_algo whose histogram this is
	// Min and Max are the exact extremes of the N values observed.
	Min, Max float64
	N        int64
	// Bin i counts the values in [Lo + i·Width, Lo + (i+1)·Width); Width
	// is 0 when every value was 0 (one bin at 0).
	Lo, Width float64
	Counts    []int64
	// ClipLo and ClipHi are the range the layer's int8 activation
	// represents, (−128 − offset_d)·scale_d and (127 − offset_d)·scale_d.
	ClipLo, ClipHi float64
	// Distinct is the number of distinct values when the calibrator kept
	// exact counts of them and derived scale_d and offset_d from those
	// (at most ExactLimit); 0 when it calibrated from its histogram.
	Distinct int
}

// summarizeCalibrator returns the summary of c's histogram in at most bins
// bins, for the calibrator of key k, without the clip range; nil when c
// keeps no histogram or has seen no value.
func summarizeCalibrator(c ActCalibrator, k calibratorKey, bins int) *ActHistogram {
	var h *ActHistogram
	switch c := c.(type) {
	case ifmrCalibrator:
		h = summarizeIFMR(c.Histogram, bins)
		if h != nil {
			h.Distinct = c.exact.distinct()
		}
	case hfmgCalibrator:
		h = summarizeHFMG(c.histogram(), bins)
		if h != nil {
			h.Distinct = c.exact.distinct()
		}
	}
	if h != nil {
		h.Tensor, h.Algo = k.tensor, k.algo
	}
	return h
}

// summarizeIFMR summarizes IFMR's streaming histogram.
func summarizeIFMR(src *Histogram, bins int) *ActHistogram {
	if src.N == 0 {
		return nil
	}
	h := &ActHistogram{Min: src.Min, Max: src.Max, N: src.N}
	lo, width := src.Edges()
	if width == 0 {
		h.Counts = []int64{src.N}
		return h
	}
	h.Lo, h.Width, h.Counts = groupBins(lo, width, src.Bins(), func(i int) int64 {
		n, _, _ := src.Bin(i)
		return n
	}, bins)
	return h
}

// summarizeHFMG summarizes HFMG's histogram, whose bins span exactly
// [Min, Max] (widened by 1 each way when they are equal, as histc does).
func summarizeHFMG(src *HFMGHistogram, bins int) *ActHistogram {
	if src.N == 0 {
		return nil
	}
	h := &ActHistogram{Min: float64(src.Min), Max: float64(src.Max), N: src.N}
	lo, hi := h.Min, h.Max
	if lo == hi {
		lo, hi = lo-1, hi+1
	}
	nb := src.Bins()
	h.Lo, h.Width, h.Counts = groupBins(lo, (hi-lo)/float64(nb), nb, src.Count, bins)
	return h
}

// groupBins merges runs of k consecutive bins of a histogram (nb bins of
// the given width from lo, counts by count) over its occupied bins, with
// k the smallest that leaves at most maxBins bins.
func groupBins(lo, width float64, nb int, count func(int) int64, maxBins int) (glo, gwidth float64, counts []int64) {
	first, last := -1, -1
	for i := range nb {
		if count(i) > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return lo, width, nil
	}
	n := last - first + 1
	k := (n + maxBins - 1) / maxBins
	counts = make([]int64, (n+k-1)/k)
	for i := first; i <= last; i++ {
		counts[(i-first)/k] += count(i)
	}
	return lo + float64(float64(first)*width), float64(k) * width, counts
}
