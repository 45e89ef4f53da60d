package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// TestChannelMaxRejectsInf checks that DMQ's per-channel maximum fails on
// infinite activations, as it does on NaN and as the calibration histograms
// do: an infinite maximum would give the clamped factor 1/FLT_EPSILON to
// its channel and push every zero-weight channel's factor to FLT_EPSILON,
// silently.
func TestChannelMaxRejectsInf(t *testing.T) {
	t.Parallel()
	for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := onnx.NewTensor([]int{2, 3}, []float32{1, 2, 3, 4, v, 6})
		x.Name = "act"
		c := &ChannelMax{Axis: -1}
		err := c.Observe(x)
		if err == nil {
			t.Fatalf("value %v: Observe returned no error; Max = %v", v, c.Max)
		}
		if !strings.Contains(err.Error(), `"act"`) || !strings.Contains(err.Error(), "channel 1") {
			t.Errorf("value %v: error %q does not name the tensor and channel", v, err)
		}
	}
}

// TestChannelMaxMatchesAPlainLoop checks the per-channel maximum against a
// plain float64 loop over each channel, on the last axis and on axis 1,
// over two batches with values of both signs, zeros and -0, and that the
// first non-finite value of a channel names itself (NaN or infinite).
func TestChannelMaxMatchesAPlainLoop(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 9))
	for _, axis := range []int{1, -1} {
		c := &ChannelMax{Axis: axis}
		want := make([]float64, 5)
		for range 2 {
			shape := []int{3, 5, 7}
			if axis == -1 {
				shape = []int{3, 7, 5}
			}
			x := make([]float32, 3*5*7)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*3))
				if i%11 == 0 {
					x[i] = float32(math.Copysign(0, -1))
				}
			}
			for i, v := range x {
				j := (i / 7) % 5
				if axis == -1 {
					j = i % 5
				}
				want[j] = max(want[j], math.Abs(float64(v)))
			}
			if err := c.Observe(onnx.NewTensor(shape, x)); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(c.Max, want) {
			t.Errorf("axis %d: Max %v, want %v", axis, c.Max, want)
		}
	}
	for _, c := range []struct {
		vals []float32
		want string
	}{
		{[]float32{1, 2, float32(math.NaN()), float32(math.Inf(1)), 5}, "NaN in channel 1"},
		{[]float32{1, 2, float32(math.Inf(-1)), float32(math.NaN()), 5}, "infinite value in channel 1"},
	} {
		x := append([]float32{0, 0, 0, 0, 0}, c.vals...)
		err := (&ChannelMax{Axis: 0}).Observe(onnx.NewTensor([]int{2, 5}, x))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.vals, err, c.want)
		}
	}
}

// batches splits x into n parts.
func batches(x []float32, n int) [][]float32 {
	var out [][]float32
	per := (len(x) + n - 1) / n
	for lo := 0; lo < len(x); lo += per {
		out = append(out, x[lo:min(lo+per, len(x))])
	}
	return out
}

func TestHistogramStreamsExactly(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	// Batches with a growing range, so the histogram re-bins several
	// times, on both sides.
	var all []float32
	h := NewHistogram(1000)
	for b := range 6 {
		x := make([]float32, 3000)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(3, float64(b)) * (1 + float64(b%2)))
			if b == 4 {
				x[i] = float32(math.Abs(float64(x[i])))
			}
		}
		all = append(all, x...)
		if err := h.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(all)
	var cnt int64
	var sum, sumSq float64
	for i := range h.Bins() {
		n, s, s2 := h.Bin(i)
		cnt += n
		sum += s
		sumSq += s2
	}
	var wantSum, wantSq float64
	for _, v := range all {
		wantSum += float64(v)
		wantSq += float64(v) * float64(v)
	}
	if cnt != int64(len(all)) || h.N != int64(len(all)) {
		t.Fatalf("counts %d / N %d, want %d", cnt, h.N, len(all))
	}
	if math.Abs(sum-wantSum) > 1e-9*wantSq || math.Abs(sumSq-wantSq) > 1e-9*wantSq {
		t.Errorf("moments %v %v, want %v %v", sum, sumSq, wantSum, wantSq)
	}
	if h.Min != float64(all[0]) || h.Max != float64(all[len(all)-1]) {
		t.Errorf("extremes %v %v, want %v %v", h.Min, h.Max, all[0], all[len(all)-1])
	}
	// Every bin's values must really lie in the bin: check by recomputing
	// the bin counts from the raw data.
	lo, w := h.Edges()
	want := make([]int64, h.Bins())
	for _, v := range all {
		want[max(0, min(h.Bins()-1, int((float64(v)-lo)/w)))]++
	}
	for i := range want {
		if n, _, _ := h.Bin(i); n != want[i] {
			t.Fatalf("bin %d holds %d values, the raw data puts %d there", i, n, want[i])
		}
	}
	for _, k := range []int64{1, 2, 100, 9000, 17999, 18000} {
		got, exact := h.Quantile(k), float64(all[k-1])
		if math.Abs(got-exact) > w {
			t.Errorf("Quantile(%d) = %v, exact %v, bin width %v", k, got, exact, w)
		}
	}
}

func TestHistogramKeepsEarlierZerosInZeroBin(t *testing.T) {
	t.Parallel()
	h := NewHistogram(64)
	if err := h.Add(make([]float32, 10)); err != nil {
		t.Fatal(err)
	}
	if err := h.Add([]float32{1, 2, 0}); err != nil {
		t.Fatal(err)
	}
	var zeroBin int64
	lo, w := h.Edges()
	for i := range h.Bins() {
		if n, _, _ := h.Bin(i); n > 0 && lo+float64(i)*w <= 0 && 0 < lo+float64(i+1)*w {
			zeroBin = n
		}
	}
	if zeroBin != 11 || h.N != 13 {
		t.Errorf("zero bin holds %d values of %d, want 11 of 13", zeroBin, h.N)
	}
	if err := h.Add([]float32{float32(math.NaN())}); err == nil {
		t.Error("NaN accepted")
	}
}

// TestHistogramAddSumsInValueOrder checks the streaming histogram against
// a plain one-value-at-a-time reference (the histogram before its fast
// paths): every bin's count, sum and sum of squares bit for bit, and the
// extremes with the sign of a zero, on batches with runs of zeros and -0,
// saturated runs, a range that grows on both sides, and batches of any
// length; and the same error for the first non-finite value.
func TestHistogramAddSumsInValueOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	got, want := NewHistogram(512), NewHistogram(512)
	negZero := float32(math.Copysign(0, -1))
	for b := range 40 {
		x := make([]float32, rng.IntN(3000))
		scale := math.Pow(2, float64(b%9)-3)
		for i := range x {
			switch r := rng.IntN(10); {
			case r < 3:
				x[i] = 0
			case r == 3:
				x[i] = negZero
			case r == 4 && i > 0:
				x[i] = x[i-1] // runs in one bin
			default:
				x[i] = float32(rng.NormFloat64() * scale)
			}
		}
		if b == 0 {
			x = []float32{negZero, 0, negZero} // zeros before any range
		}
		if err := got.Add(x); err != nil {
			t.Fatal(err)
		}
		referenceAdd(want, x)
		if math.Float64bits(got.Min) != math.Float64bits(want.Min) || math.Float64bits(got.Max) != math.Float64bits(want.Max) || got.N != want.N {
			t.Fatalf("batch %d: min/max/N %v %v %d, want %v %v %d", b, got.Min, got.Max, got.N, want.Min, want.Max, want.N)
		}
		if got.lo != want.lo || got.width != want.width || got.zeros != want.zeros {
			t.Fatalf("batch %d: grid %v+%v zeros %d, want %v+%v zeros %d", b, got.lo, got.width, got.zeros, want.lo, want.width, want.zeros)
		}
		for i := range got.Bins() {
			n, s, s2 := got.Bin(i)
			wn, ws, ws2 := want.Bin(i)
			if n != wn || math.Float64bits(s) != math.Float64bits(ws) || math.Float64bits(s2) != math.Float64bits(ws2) {
				t.Fatalf("batch %d bin %d: %d %v %v, want %d %v %v", b, i, n, s, s2, wn, ws, ws2)
			}
		}
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := []float32{1, 2, 3, 4, 5, bad, float32(math.NaN())}
		err := NewHistogram(8).Add(x)
		if want := fmt.Sprintf("non-finite value %v", bad); err == nil || err.Error() != want {
			t.Errorf("Add(%v) = %v, want %q", x, err, want)
		}
	}
}

// TestFiniteRangeSplitGivesTheWholeRange checks that the range found in
// parts on several goroutines is the range of the whole: the extremes
// with the sign of a zero (all values ≥ 0 with a -0 in a later part, whose
// minimum is -0), and a NaN or infinity in any part.
func TestFiniteRangeSplitGivesTheWholeRange(t *testing.T) {
	defer runtimeProcs(4)() // not parallel: GOMAXPROCS is the process's
	negZero := float32(math.Copysign(0, -1))
	x := make([]float32, 5*parallelRangeMin+3)
	rng := rand.New(rand.NewPCG(10, 11))
	for i := range x {
		x[i] = float32(rng.Float64()) + 0.5
	}
	x[7] = 0
	x[4*parallelRangeMin+1] = negZero
	x[3*parallelRangeMin] = 9
	lo, hi, ok := finiteRangeParallel(x)
	wlo, whi, wok := finiteRange(x)
	if math.Float32bits(lo) != math.Float32bits(wlo) || hi != whi || ok != wok || !math.Signbit(float64(lo)) || hi != 9 {
		t.Errorf("split range %v..%v %v, want %v..%v %v (-0..9, finite)", lo, hi, ok, wlo, whi, wok)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		y := slices.Clone(x)
		y[len(y)-2] = bad
		if _, _, ok := finiteRangeParallel(y); ok {
			t.Errorf("%v in the last part: reported finite", bad)
		}
	}
}

// runtimeProcs sets GOMAXPROCS to n and returns the function that puts it
// back.
func runtimeProcs(n int) func() {
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}

// referenceAdd is Histogram.Add one value at a time, into the slices.
func referenceAdd(h *Histogram, x []float32) {
	if len(x) == 0 {
		return
	}
	bmin, bmax := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		bmin = min(bmin, float64(v))
		bmax = max(bmax, float64(v))
	}
	if h.N == 0 {
		h.Min, h.Max = bmin, bmax
	} else {
		h.Min, h.Max = min(h.Min, bmin), max(h.Max, bmax)
	}
	h.N += int64(len(x))
	h.fit(min(h.Min, 0), max(h.Max, 0))
	if h.width == 0 {
		h.zeros += int64(len(x))
		return
	}
	nb := len(h.bins)
	inv := 1 / h.width
	for _, v := range x {
		f := float64(v)
		i := max(0, min(nb-1, int((f-h.lo)*inv)))
		h.bins[i].n++
		h.bins[i].sum += f
		h.bins[i].sumSq += float64(f * f)
	}
}

// BenchmarkHistogramAdd times the calibration histogram's Add on one
// batch-sized activation, of normal values and of ReLU outputs (half of
// them zero).
func BenchmarkHistogramAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	normal := make([]float32, 1<<20)
	relu := make([]float32, len(normal))
	for i := range normal {
		normal[i] = float32(rng.NormFloat64())
		relu[i] = max(0, normal[i])
	}
	for _, c := range []struct {
		name string
		x    []float32
	}{{"normal", normal}, {"relu", relu}} {
		b.Run(c.name, func(b *testing.B) {
			h := NewHistogram(IFMRBins)
			b.SetBytes(int64(4 * len(c.x)))
			for b.Loop() {
				if err := h.Add(c.x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
