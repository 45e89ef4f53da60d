package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"amq/onnx"
)

// ChannelMax is a running per-channel maximum of |x| over any number of
// tensors, for DMQ. Its memory is one float64 per channel.
type ChannelMax struct {
	// Axis is the channel axis; a negative axis counts from the end
	// (-1 is the last axis).
	Axis int
	// Max holds max|x| per channel; nil until the first Observe.
	Max []float64
}

// Observe folds t into the running maxima. Every tensor must have the same
// channel count. NaN and infinite values are reported as errors: they would
// make every factor derived from the maximum meaningless.
func (c *ChannelMax) Observe(t *onnx.Tensor) error {
	x, err := onnx.Data[float32](t)
	if err != nil {
		return err
	}
	axis := c.Axis
	if axis < 0 {
		axis += t.Rank()
	}
	if axis < 0 || axis >= t.Rank() {
		return fmt.Errorf("tensor %q of shape %v has no channel axis %d", t.Name, t.Shape, c.Axis)
	}
	ch := t.Shape[axis]
	if c.Max == nil {
		c.Max = make([]float64, ch)
	} else if len(c.Max) != ch {
		return fmt.Errorf("tensor %q of shape %v has %d channels on axis %d, earlier batches had %d", t.Name, t.Shape, ch, axis, len(c.Max))
	}
	inner := onnx.NumElems(t.Shape[axis+1:])
	outer := onnx.NumElems(t.Shape[:axis])
	for o := 0; o < outer; o++ {
		for j := 0; j < ch; j++ {
			base := (o*ch + j) * inner
			m, finite := absMax(x[base:base+inner], float32(c.Max[j]))
			if !finite {
				return nonFinite(t.Name, j, x[base:base+inner])
			}
			c.Max[j] = float64(m)
		}
	}
	return nil
}

// absMax returns the greatest of m and |v| for v in x, and whether every
// v is finite; m, a maximum of float32 magnitudes, converts exactly, so
// the maximum is the float64 one. Four accumulators keep the loop off one
// dependency chain; v-v is NaN exactly when v is NaN or ±Inf.
func absMax(x []float32, m float32) (float32, bool) {
	const sign = 1 << 31
	m0, m1, m2, m3 := m, m, m, m
	var z0, z1 float32
	for len(x) >= 4 {
		a, b, c, d := x[0], x[1], x[2], x[3]
		m0 = max(m0, math.Float32frombits(math.Float32bits(a)&^sign))
		m1 = max(m1, math.Float32frombits(math.Float32bits(b)&^sign))
		m2 = max(m2, math.Float32frombits(math.Float32bits(c)&^sign))
		m3 = max(m3, math.Float32frombits(math.Float32bits(d)&^sign))
		z0 += (a - a) + (b - b)
		z1 += (c - c) + (d - d)
		x = x[4:]
	}
	for _, v := range x {
		m0 = max(m0, math.Float32frombits(math.Float32bits(v)&^sign))
		z0 += v - v
	}
	return max(m0, m1, m2, m3), z0+z1 == 0
}

// nonFinite is ChannelMax's error for the first NaN or infinite value of
// channel j's values x.
func nonFinite(name string, j int, x []float32) error {
	for _, v := range x {
		if a := math.Abs(float64(v)); math.IsInf(a, 0) {
			return fmt.Errorf("tensor %q: infinite value in channel %d", name, j)
		} else if a != a {
			return fmt.Errorf("tensor %q: NaN in channel %d", name, j)
		}
	}
	return fmt.Errorf("tensor %q: non-finite value in channel %d", name, j)
}

// Histogram is a streaming histogram of one tensor's values over any number
// of batches, with memory independent of the number of values.
//
// The bins are of equal width over a range that always contains 0 (every
// int8 range does) and the exact minimum and maximum seen so far. When a
// batch falls outside the range, the range grows: the bin width is
// multiplied by a power of two and the grid is shifted by whole old bins, so
// that every old bin lies inside exactly one new bin and re-binning merges
// counts without approximation. Resolution can therefore drop to half the
// bin count over the data's actual range; callers that need precision ask
// for more bins.
//
// Besides the count, each bin keeps the sum and the sum of squares of its
// values. Losses that are constant-valued over a bin (clipping, or a bin
// inside one quantization step) are then evaluated exactly rather than at
// the bin center.
type Histogram struct {
	Min, Max float64 // exact extremes of the values seen
	N        int64   // number of values seen

	lo    float64 // left edge of bin 0
	width float64 // bin width; 0 until a non-zero value has been seen
	bins  []histBin
	zeros int64 // values seen while width is 0 (all exactly 0)
}

// histBin is one bin of a Histogram: its count, sum and sum of squares lie
// in one cache line or two, which the binning loop touches per value.
type histBin struct {
	n          int64
	sum, sumSq float64
}

// NewHistogram returns an empty histogram with the given number of bins.
func NewHistogram(bins int) *Histogram {
	if bins < 1 {
		bins = 1
	}
	return &Histogram{
		bins: make([]histBin, bins),
	}
}

// Bins is the number of bins.
func (h *Histogram) Bins() int { return len(h.bins) }

func (h *Histogram) size() int64 { return h.N }

// Edges returns the left edge of bin 0 and the bin width (0 when every value
// seen so far is 0).
func (h *Histogram) Edges() (lo, width float64) { return h.lo, h.width }

// Bin returns the count, sum and sum of squares of bin i.
func (h *Histogram) Bin(i int) (n int64, sum, sumSq float64) {
	return h.bins[i].n, h.bins[i].sum, h.bins[i].sumSq
}

// Observe adds the float32 values of t.
func (h *Histogram) Observe(t *onnx.Tensor) error { return addFloats(t, h.Add) }

// addFloats passes t's float32 values to add, naming t in any error.
func addFloats(t *onnx.Tensor, add func([]float32) error) error {
	x, err := onnx.Data[float32](t)
	if err != nil {
		return err
	}
	if err := add(x); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return nil
}

// Add adds values. It fails on NaN or infinite values, which have no int8
// representation.
func (h *Histogram) Add(x []float32) error {
	if len(x) == 0 {
		return nil
	}
	lo, hi, ok := finiteRangeParallel(x)
	if !ok {
		for _, v := range x {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("non-finite value %v", v)
			}
		}
	}
	h.addWithin(x, float64(lo), float64(hi))
	return nil
}

// parallelRangeMin is the least number of values finiteRangeParallel
// splits between goroutines.
const parallelRangeMin = 1 << 16

// finiteRangeParallel is finiteRange of x split over the cores: the
// statistics run while the engine waits for them, so the other cores are
// free. min and max give the same result in any grouping.
func finiteRangeParallel(x []float32) (lo, hi float32, finite bool) {
	parts := min(runtime.GOMAXPROCS(0), len(x)/parallelRangeMin)
	if parts <= 1 {
		return finiteRange(x)
	}
	type result struct {
		lo, hi float32
		ok     bool
	}
	res := make([]result, parts)
	per := (len(x) + parts - 1) / parts
	var wg sync.WaitGroup
	for k := 1; k < parts; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &res[k]
			r.lo, r.hi, r.ok = finiteRange(x[k*per : min((k+1)*per, len(x))])
		}()
	}
	res[0].lo, res[0].hi, res[0].ok = finiteRange(x[:per])
	wg.Wait()
	lo, hi, finite = res[0].lo, res[0].hi, res[0].ok
	for _, r := range res[1:] {
		lo, hi, finite = min(lo, r.lo), max(hi, r.hi), finite && r.ok
	}
	return lo, hi, finite
}

// finiteRange returns the least and greatest of x (not empty) as the
// built-in min and max order them (-0 below +0), and whether every value
// is finite. Four independent accumulators keep the loop off one
// dependency chain; v-v is 0 for a finite v and NaN for NaN and ±Inf, so
// one sum tells whether any value was not finite.
func finiteRange(x []float32) (lo, hi float32, finite bool) {
	l0, l1, l2, l3 := x[0], x[0], x[0], x[0]
	h0, h1, h2, h3 := l0, l0, l0, l0
	var z0, z1, z2, z3 float32
	for len(x) >= 4 {
		a, b, c, d := x[0], x[1], x[2], x[3]
		l0, h0, z0 = min(l0, a), max(h0, a), z0+(a-a)
		l1, h1, z1 = min(l1, b), max(h1, b), z1+(b-b)
		l2, h2, z2 = min(l2, c), max(h2, c), z2+(c-c)
		l3, h3, z3 = min(l3, d), max(h3, d), z3+(d-d)
		x = x[4:]
	}
	for _, v := range x {
		l0, h0, z0 = min(l0, v), max(h0, v), z0+(v-v)
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3), z0+z1+z2+z3 == 0
}

// addWithin is Add of values x, all finite and at least one, whose least
// and greatest are bmin and bmax, for a caller that has found them.
func (h *Histogram) addWithin(x []float32, bmin, bmax float64) {
	if h.N == 0 {
		h.Min, h.Max = bmin, bmax
	} else {
		h.Min, h.Max = min(h.Min, bmin), max(h.Max, bmax)
	}
	h.N += int64(len(x))
	h.fit(min(h.Min, 0), max(h.Max, 0))
	if h.width == 0 {
		// All values so far are 0 and the range is empty.
		h.zeros += int64(len(x))
		return
	}
	nb := len(h.bins)
	inv := 1 / h.width
	// The bin being filled stays in registers while values fall into it
	// (runs of saturated values): the sums take the same additions in the
	// same order as adding into the slices. Zeros (after a ReLU, padding)
	// are only counted: adding ±0 leaves a bin's sums as they are, since
	// a sum that starts at +0 never becomes -0.
	cur := -1
	var n, zeros int64
	var sum, sumSq float64
	for _, v := range x {
		if v == 0 {
			zeros++
			continue
		}
		f := float64(v)
		i := int((f - h.lo) * inv)
		i = max(0, min(nb-1, i))
		if i != cur {
			if cur >= 0 {
				h.bins[cur].n, h.bins[cur].sum, h.bins[cur].sumSq = n, sum, sumSq
			}
			cur, n, sum, sumSq = i, h.bins[i].n, h.bins[i].sum, h.bins[i].sumSq
		}
		n++
		sum += f
		sumSq += float64(f * f)
	}
	if cur >= 0 {
		h.bins[cur].n, h.bins[cur].sum, h.bins[cur].sumSq = n, sum, sumSq
	}
	h.bins[max(0, min(nb-1, int((0-h.lo)*inv)))].n += zeros
}

// fit grows the range to contain [lo, hi] (lo <= 0 <= hi).
func (h *Histogram) fit(lo, hi float64) {
	if h.width == 0 {
		if hi == lo {
			return
		}
		// First non-degenerate range: spread the bins over exactly
		// [lo, hi] and move any zeros seen so far into their bin.
		h.lo, h.width = lo, (hi-lo)/float64(len(h.bins))
		if h.zeros > 0 {
			h.bins[h.zeroBin()].n += h.zeros
			h.zeros = 0
		}
		return
	}
	if lo >= h.lo && h.inside(hi) {
		return
	}
	// Grow by k = 2, 4, 8, ... after shifting the grid left by j whole old
	// bins (as many as lo needs); old bin i then lies in new bin (i+j)/k.
	j := max(0, int(math.Ceil((h.lo-lo)/h.width)))
	newLo := h.lo - float64(float64(j)*h.width)
	k := 2
	for int((hi-newLo)/(h.width*float64(k))) >= len(h.bins) {
		k *= 2
	}
	n := len(h.bins)
	bins := make([]histBin, n)
	for i := range n {
		if h.bins[i].n == 0 {
			continue
		}
		d := min((i+j)/k, n-1) // exact arithmetic keeps it below n; guard rounding
		bins[d].n += h.bins[i].n
		bins[d].sum += h.bins[i].sum
		bins[d].sumSq += h.bins[i].sumSq
	}
	h.bins = bins
	h.lo = newLo
	h.width *= float64(k)
}

// inside reports whether x maps to a bin index below the bin count without
// clamping (guards against rounding at the right edge).
func (h *Histogram) inside(x float64) bool {
	return int((x-h.lo)/h.width) < len(h.bins)
}

// Quantile returns an estimate of the k-th smallest value (1-based rank),
// exact for k = 1 and k = N, interpolated linearly inside a bin otherwise.
func (h *Histogram) Quantile(k int64) float64 {
	switch {
	case h.N == 0:
		return 0
	case k <= 1:
		return h.Min
	case k >= h.N:
		return h.Max
	case h.width == 0:
		return 0
	}
	var cum int64
	for i := range h.bins {
		c := h.bins[i].n
		if cum+c >= k {
			// Rank k is the (k-cum)-th of c values spread over the bin.
			frac := (float64(k-cum) - 0.5) / float64(c)
			v := h.lo + float64((float64(i)+frac)*h.width)
			return max(h.Min, min(h.Max, v))
		}
		cum += c
	}
	return h.Max
}

func (h *Histogram) zeroBin() int {
	return max(0, min(len(h.bins)-1, int(-h.lo/h.width)))
}
