package quant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

func hfmgParams(bins int, asym bool) ActParams {
	return ActParams{NumBits: 8, Algo: "hfmg", NumOfBins: bins, Asymmetric: asym}
}

// gridBest searches clipping ranges [q_a, q_b] over a grid of sample
// quantiles on the raw data and returns the smallest MSE found: an
// independent reference for what a clip search can achieve.
func gridBest(x []float32, asym bool) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	var los, his []float64
	for i := 0; i <= 24; i++ {
		f := math.Pow(10, -6+float64(i)*0.2) // 1e-6 .. 1e-1.2, log spaced
		los = append(los, float64(s[int(f*float64(n-1))]))
		his = append(his, float64(s[n-1-int(f*float64(n-1))]))
	}
	los = append(los, float64(s[0]))
	his = append(his, float64(s[n-1]))
	best := math.Inf(1)
	for _, lo := range los {
		for _, hi := range his {
			sc, o := ScaleOffset(lo, hi, asym)
			best = min(best, rawMSE(x, sc, o))
		}
	}
	return best
}

// studentT3 returns n samples of a Student t with 3 degrees of freedom
// plus shift: heavy tails that MSE-optimal clipping cuts.
func studentT3(rng *rand.Rand, n int, shift float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		chi := 0.0
		for range 3 {
			chi += sq(rng.NormFloat64())
		}
		x[i] = float32(rng.NormFloat64()/math.Sqrt(chi/3) + shift)
	}
	return x
}

func TestHFMGClipsOutliers(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	shifted := studentT3(rng, 60000, 0.5)
	centred := studentT3(rng, 60000, 0)
	for _, asym := range []bool{true, false} {
		// The symmetric case takes max(|l|, |r|) of the range found by
		// the (asymmetric) search, so it is tested on centred data.
		x := shifted
		if !asym {
			x = centred
		}
		ref := gridBest(x, asym)
		for _, bins := range hfmgBins {
			h := NewHFMGHistogram(bins)
			for _, b := range batches(x, 6) {
				if err := h.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			s, o, err := HFMG(h, hfmgParams(bins, asym))
			if err != nil {
				t.Fatal(err)
			}
			got := rawMSE(x, s, o)
			ms, mo := ScaleOffset(float64(h.Min), float64(h.Max), asym)
			minmax := rawMSE(x, ms, mo)
			t.Logf("asym=%v bins=%d: hfmg s=%.5g o=%d mse=%.5g; min-max mse=%.5g; grid best %.5g", asym, bins, s, o, got, minmax, ref)
			if got > 0.97*minmax {
				t.Errorf("asym=%v bins=%d: hfmg mse %v is not below the min-max mse %v", asym, bins, got, minmax)
			}
			// The search minimizes a proxy (error against the centres of
			// 256 equal bins), so it is near, not at, the true optimum.
			if tol := map[bool]float64{true: 1.02, false: 1.10}[asym]; got > tol*ref {
				t.Errorf("asym=%v bins=%d: hfmg mse %v is more than %.0f%% above the grid optimum %v", asym, bins, got, 100*(tol-1), ref)
			}
		}
	}
}

func TestHFMGKeepsUniformRange(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 50000)
	for i := range x {
		x[i] = float32(rng.Float64()*6 - 2) // uniform [-2, 4)
	}
	h := NewHFMGHistogram(2048)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	s, o, err := HFMG(h, hfmgParams(2048, true))
	if err != nil {
		t.Fatal(err)
	}
	// With nothing to clip, the range must stay (nearly) the full one.
	lo, hi := Dequantize(-128, s, o), Dequantize(127, s, o)
	if lo > -1.95 || hi < 3.9 {
		t.Errorf("uniform [-2, 4): hfmg range [%v, %v]", lo, hi)
	}
}

func TestHFMGUsesWholeRangeForNonNegativeData(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, 20000)
	for i := range x {
		x[i] = float32(max(0, rng.NormFloat64()))
	}
	h := NewHFMGHistogram(1024)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	_, o, err := HFMG(h, hfmgParams(1024, true))
	if err != nil {
		t.Fatal(err)
	}
	if o != -128 {
		t.Errorf("ReLU output: offset %d, want -128", o)
	}
	if err := checkHFMG(hfmgParams(1000, true)); err == nil {
		t.Error("num_of_bins 1000 accepted")
	}
}

// refBin is the exact bin of x among nb equal bins over [lo, hi]
// (rational arithmetic) and how far x is from the nearest bin edge, in bins.
func refBin(x, lo, hi float32, nb int) (int, float64) {
	num := new(big.Rat).Sub(new(big.Rat).SetFloat64(float64(x)), new(big.Rat).SetFloat64(float64(lo)))
	num.Mul(num, new(big.Rat).SetInt64(int64(nb)))
	pos := num.Quo(num, new(big.Rat).SetFloat64(float64(hi)-float64(lo)))
	f, _ := pos.Float64()
	b := int(math.Floor(f))
	if b >= nb {
		b = nb - 1
	}
	return b, math.Abs(f - math.Round(f))
}

func TestHFMGHistogramBinsAsExactBinningDoes(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 30000)
	for i := range x {
		x[i] = float32(rng.NormFloat64() + 7) // positive: 0 is not in the range
	}
	h := NewHFMGHistogram(4096)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	lo, hi := slices.Min(x), slices.Max(x)
	if h.Min != lo || h.Max != hi || h.N != int64(len(x)) {
		t.Fatalf("range [%v, %v] N %d, want the data's [%v, %v] and %d", h.Min, h.Max, h.N, lo, hi, len(x))
	}
	want := make([]int64, h.Bins())
	skipped := 0
	for _, v := range x {
		b, edge := refBin(v, lo, hi, h.Bins())
		if edge < 2e-3 && v != lo && v != hi {
			// float32 arithmetic (a relative error near 1e-7 of a
			// position up to 4096) may put a value this close to an
			// edge on either side; such values are rare: skip them.
			skipped++
			continue
		}
		want[b]++
	}
	var diff, total int64
	for i := range want {
		total += h.Count(i)
		d := h.Count(i) - want[i]
		diff += max(d, -d)
	}
	if total != int64(len(x)) {
		t.Errorf("bins hold %d values, want %d", total, len(x))
	}
	// Only the skipped edge values may differ.
	t.Logf("%d values near an edge skipped; the rest differ from exact binning by %d", skipped, diff-int64(skipped))
	if diff != int64(skipped) { // each skipped value adds exactly 1
		t.Errorf("bins differ from exact binning by %d values, %d were skipped", diff, skipped)
	}
	if h.Count(0) == 0 || h.Count(h.Bins()-1) == 0 {
		t.Errorf("extreme bins empty: %d, %d (the minimum and maximum belong there)", h.Count(0), h.Count(h.Bins()-1))
	}
}

func TestHFMGHistogramMergesBatchesOverTheirUnion(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	const nb = 1024
	a := make([]float32, 20000)
	for i := range a {
		a[i] = float32(rng.Float64()) // [0, 1)
	}
	inside := make([]float32, 5000)
	for i := range inside {
		inside[i] = float32(0.1 + 0.8*rng.Float64())
	}
	wide := make([]float32, 20000)
	for i := range wide {
		wide[i] = float32(rng.NormFloat64()*1.5 + 0.7)
	}

	// A batch inside the range adds bin by bin: the result is the
	// histogram of both batches at once.
	h := NewHFMGHistogram(nb)
	if err := h.Add(a); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(inside); err != nil {
		t.Fatal(err)
	}
	once := NewHFMGHistogram(nb)
	if err := once.Add(slices.Concat(a, inside)); err != nil {
		t.Fatal(err)
	}
	for i := range nb {
		if h.Count(i) != once.Count(i) {
			t.Fatalf("batch inside the range: bin %d holds %d, the single-batch histogram %d", i, h.Count(i), once.Count(i))
		}
	}

	// A batch that widens the range: the new batch is binned over the
	// union and each old bin's count is split over the new bins it
	// overlaps in proportion to the overlap, lower share truncated.
	oldLo, oldHi := float64(h.Min), float64(h.Max)
	old := make([]int64, nb)
	for i := range old {
		old[i] = h.Count(i)
	}
	if err := h.Add(wide); err != nil {
		t.Fatal(err)
	}
	lo, hi := min(h.Min, slices.Min(wide)), max(h.Max, slices.Max(wide))
	if h.Min != lo || h.Max != hi || h.N != int64(len(a)+len(inside)+len(wide)) {
		t.Fatalf("merged range [%v, %v] N %d", h.Min, h.Max, h.N)
	}
	want := make([]float64, nb)
	for _, v := range wide {
		b, _ := refBin(v, lo, hi, nb)
		want[b]++
	}
	ow, nw := (oldHi-oldLo)/nb, (float64(hi)-float64(lo))/nb
	for i, c := range old {
		b0, b1 := oldLo+float64(i)*ow, oldLo+float64(i+1)*ow
		j := int((b0 - float64(lo)) / nw)
		split := float64(lo) + float64(j+1)*nw // right edge of new bin j
		if split >= b1 {
			want[j] += float64(c)
			continue
		}
		low := math.Trunc(float64(c) * (split - b0) / ow)
		want[j] += low
		want[j+1] += float64(c) - low
	}
	var diff, total float64
	var worst float64
	for i := range nb {
		total += float64(h.Count(i))
		d := math.Abs(float64(h.Count(i)) - want[i])
		diff += d
		worst = max(worst, d)
	}
	if total != float64(h.N) {
		t.Errorf("merged bins hold %v values, want %d", total, h.N)
	}
	// Rounding (float32 in the histogram, float64 here) may move a value
	// between neighbours at a truncation or an edge.
	t.Logf("merged histogram: %v values differ from the reference, at most %v in one bin", diff, worst)
	if worst > 2 || diff > 40 {
		t.Errorf("merged histogram: %v values differ from the reference, at most %v in one bin", diff, worst)
	}
}

func TestHFMGCandidatesFollowTheSearchRule(t *testing.T) {
	t.Parallel()
	// Worked by hand from the rule in HFMG's doc comment (steps of
	// ceil(N/100000) values, the end that crosses more bins moves, ties
	// move the right end, stop at a quarter of the bins).
	for _, c := range []struct {
		count []int64
		want  [][2]int
	}{
		{[]int64{1, 0, 0, 5, 5, 0, 0, 1}, [][2]int{{0, 6}, {0, 3}, {0, 2}}},
		{[]int64{1, 0, 0, 0, 5, 5, 0, 1}, [][2]int{{0, 6}, {0, 4}, {0, 3}, {0, 1}}},
		{[]int64{0, 0, 1, 5, 5, 5, 5, 5}, [][2]int{{3, 7}, {3, 6}, {3, 5}}},
		// 400006 values: steps of 5, so the right end crosses 5 bins.
		{[]int64{200000, 1, 1, 1, 1, 1, 1, 200000}, [][2]int{{0, 6}, {0, 1}}},
	} {
		if got := hfmgCandidates(c.count); !slices.Equal(got, c.want) {
			t.Errorf("counts %v: candidates %v, want %v", c.count, got, c.want)
		}
	}
}

// integratedLoss is hfmgLoss by numeric integration: each bin's count
// spread evenly over k points, each point's squared distance to the centre
// of its (clamped) 256-bin over bins [l, r].
func integratedLoss(count []int64, bw float64, l, r, k int) float64 {
	dw := bw * float64(r-l+1) / 256
	start := float64(l) * bw
	var loss float64
	for i, c := range count {
		if c == 0 {
			continue
		}
		for p := range k {
			x := (float64(i) + (float64(p)+0.5)/float64(k)) * bw
			j := max(0, min(255, int(math.Floor((x-start)/dw))))
			loss += float64(c) / float64(k) * sq(x-(start+(float64(j)+0.5)*dw))
		}
	}
	return loss
}

func TestHFMGLossIsTheNumericIntegral(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	const nb = 1024
	count := make([]int64, nb)
	for i := range count {
		// A bump with sparse tails and gaps.
		if d := float64(i-400) / 120; rng.Float64() < 0.9 {
			count[i] = int64(5000 * math.Exp(-d*d/2))
		}
	}
	var nz []int
	for i, c := range count {
		if c > 0 {
			nz = append(nz, i)
		}
	}
	bw := 0.0173
	for range 40 {
		l := rng.IntN(nb / 2)
		r := l + nb/4 + rng.IntN(nb-l-nb/4)
		got := hfmgLoss(count, nz, bw, l, r)
		want := integratedLoss(count, bw, l, r, 512)
		if d := math.Abs(got-want) / want; d > 1e-5 {
			t.Errorf("bins [%d, %d]: loss %v, numeric integral %v (%.2g apart)", l, r, got, want, d)
		}
	}
}

func TestHFMGPicksSmallestLoss(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 32))
	for _, asym := range []bool{true, false} {
		x := studentT3(rng, 40000, 0.3)
		h := NewHFMGHistogram(1024)
		for _, b := range batches(x, 3) {
			if err := h.Add(b); err != nil {
				t.Fatal(err)
			}
		}
		s, o, err := HFMG(h, hfmgParams(1024, asym))
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int64, h.Bins())
		for i := range count {
			count[i] = h.Count(i)
		}
		// The range's edges in float32, as HFMG (and AMCT) compute them.
		bw := (h.Max - h.Min) / float32(h.Bins())
		best, chosen := math.Inf(1), math.Inf(1)
		for _, c := range hfmgCandidates(count) {
			loss := integratedLoss(count, float64(bw), c[0], c[1], 64)
			best = min(best, loss)
			lo := h.Min + float32(c[0])*bw
			hi := h.Min + float32(c[1]+1)*bw
			if cs, co := ScaleOffset(float64(lo), float64(hi), asym); cs == s && co == o {
				chosen = min(chosen, loss)
			}
		}
		if math.IsInf(chosen, 1) {
			t.Fatalf("asym=%v: s=%v o=%d is no candidate's", asym, s, o)
		}
		if chosen > best*(1+1e-6) {
			t.Errorf("asym=%v: chosen range has loss %v, the smallest is %v", asym, chosen, best)
		}
	}
}

func TestHFMGHandlesDegenerateData(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		x     []float32
		asym  bool
		scale float32
		off   int32
	}{
		{[]float32{0, 0, 0}, true, 1, -128}, // scale 0 becomes 1
		{[]float32{0, 0, 0}, false, 1, 0},
		{[]float32{2.5, 2.5}, true, float32(2.5 / 255), -128},
		// /128 needs a strictly larger negative end; here both are -2.5.
		{[]float32{-2.5, -2.5}, false, float32(2.5 / 127), 0},
	} {
		h := NewHFMGHistogram(4096)
		// Two batches: a constant batch merges with a constant range.
		for range 2 {
			if err := h.Add(c.x); err != nil {
				t.Fatal(err)
			}
		}
		s, o, err := HFMG(h, hfmgParams(4096, c.asym))
		if err != nil {
			t.Fatal(err)
		}
		if s != c.scale || o != c.off {
			t.Errorf("constant %v asym=%v: s=%v o=%d, want %v %d", c.x[0], c.asym, s, o, c.scale, c.off)
		}
	}

	// A constant batch followed by a wider one: the constant's count
	// lands in the bin of its value.
	h := NewHFMGHistogram(1024)
	if err := h.Add([]float32{1, 1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.Add([]float32{0, 4}); err != nil {
		t.Fatal(err)
	}
	if h.Count(256) != 4 || h.Count(0) != 1 || h.Count(1023) != 1 {
		t.Errorf("constant then [0, 4]: bins 0, 256, 1023 hold %d, %d, %d; want 1, 4, 1", h.Count(0), h.Count(256), h.Count(1023))
	}

	// A range so narrow that every candidate's 256-bin width is below
	// FLT_EPSILON: AMCT scores them all 0, so the first one wins.
	rng := rand.New(rand.NewPCG(41, 42))
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(-1 - 1e-5*rng.Float64())
	}
	h = NewHFMGHistogram(4096)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	s, o, err := HFMG(h, hfmgParams(4096, true))
	if err != nil {
		t.Fatal(err)
	}
	count := make([]int64, h.Bins())
	for i := range count {
		count[i] = h.Count(i)
	}
	first := hfmgCandidates(count)[0]
	bw := (h.Max - h.Min) / float32(h.Bins())
	ws, wo := ScaleOffset(float64(h.Min+float32(first[0])*bw), float64(h.Min+float32(first[1]+1)*bw), true)
	if s != ws || o != wo {
		t.Errorf("near-constant tensor: s=%v o=%d, want the first candidate's %v %d", s, o, ws, wo)
	}

	if err := NewHFMGHistogram(16).Add([]float32{1, float32(math.NaN())}); err == nil {
		t.Error("NaN accepted")
	}
	if _, _, err := HFMG(NewHFMGHistogram(16), hfmgParams(1024, true)); err == nil {
		t.Error("empty histogram accepted")
	}
}
