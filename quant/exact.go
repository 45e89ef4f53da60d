package quant

import (
	"cmp"
	"slices"
)

// ExactLimit is the most distinct values an activation may take for its
// calibrator to keep exact counts of them. 8-bit images scaled to [0, 1]
// take at most 256, one-hot inputs 2, the outputs of an embedding table
// with a small vocabulary one per entry and channel.
const ExactLimit = 4096

// exactCounts counts every distinct value of a tensor over any number of
// batches, as long as there are at most limit of them; IFMR and HFMG are
// then evaluated on the values themselves, as AMCT evaluates them on every
// value it kept (docs/design.md "Exact statistics"). The counts depend only
// on the values seen, not on how they were split into batches or in what
// order. Memory is bounded by limit: the first value beyond it drops the
// counts for good, and the caller's histogram, which saw every batch from
// the start, takes over.
type exactCounts struct {
	limit  int
	index  map[float32]int // value → its place in vals and counts; nil once dropped
	vals   []float32
	counts []int64
	n      int64
	// sorted caches values() until the next add: every layer reading the
	// tensor, and HFMG's and IFMR's calls, read the same sorted copy.
	sorted *exactValues
}

// newExactCounts returns empty counts that keep at most limit values.
func newExactCounts(limit int) *exactCounts {
	return &exactCounts{limit: limit, index: map[float32]int{}}
}

// add counts the values of x, which must be finite (the histogram that is
// fed the same batch rejects the others).
func (e *exactCounts) add(x []float32) {
	if e.index == nil || len(x) == 0 {
		return
	}
	e.sorted = nil
	// Runs of one value (zeros after a ReLU, image borders) skip the map.
	last, li := float32(0), -1
	for _, v := range x {
		if v == 0 {
			v = 0 // -0 counts as 0, so that no result depends on which came first
		}
		if li >= 0 && v == last {
			e.counts[li]++
			continue
		}
		i, ok := e.index[v]
		if !ok {
			if len(e.vals) == e.limit {
				e.index, e.vals, e.counts = nil, nil, nil
				return
			}
			i = len(e.vals)
			e.index[v] = i
			e.vals = append(e.vals, v)
			e.counts = append(e.counts, 0)
		}
		e.counts[i]++
		last, li = v, i
	}
	e.n += int64(len(x))
}

// values returns the counted values in ascending order, read-only (they
// are cached until the next add); ok is false when the counts were dropped
// or nothing was counted.
func (e *exactCounts) values() (v exactValues, ok bool) {
	if e == nil || e.index == nil || e.n == 0 {
		return exactValues{}, false
	}
	if e.sorted != nil {
		return *e.sorted, true
	}
	order := make([]int, len(e.vals))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(e.vals[a], e.vals[b]) })
	v = exactValues{vals: make([]float32, len(order)), counts: make([]int64, len(order)), n: e.n}
	for k, i := range order {
		v.vals[k], v.counts[k] = e.vals[i], e.counts[i]
	}
	e.sorted = &v
	return v, true
}

// distinct is the number of distinct values counted, 0 when the counts
// were dropped.
func (e *exactCounts) distinct() int {
	if e == nil || e.index == nil {
		return 0
	}
	return len(e.vals)
}

// exactValues are a tensor's distinct values in ascending order, each with
// the number of times it occurred.
type exactValues struct {
	vals   []float32
	counts []int64
	n      int64 // sum of counts
}

func (v exactValues) size() int64 { return v.n }

// Quantile returns the value of ascending rank k (1-based), clamped to
// [1, N].
func (v exactValues) Quantile(k int64) float64 {
	var cum int64
	for i, c := range v.counts {
		cum += c
		if cum >= k {
			return float64(v.vals[i])
		}
	}
	return float64(v.vals[len(v.vals)-1])
}

// SquaredError returns the sum over the values x of (x - FakeQuant(x, s, o))².
func (v exactValues) SquaredError(s float32, o int32) float64 {
	var total float64
	for i, x := range v.vals {
		total += float64(float64(v.counts[i]) * sq(float64(x)-FakeQuant(float64(x), s, o)))
	}
	return total
}

// hfmgHistogram returns the HFMG histogram of the values with the given
// number of bins: histc over exactly [min, max], as AMCT bins a batch that
// holds all of them.
func (v exactValues) hfmgHistogram(bins int) *HFMGHistogram {
	h := NewHFMGHistogram(bins)
	h.Min, h.Max, h.N = v.vals[0], v.vals[len(v.vals)-1], v.n
	b := newHistcBinner(h.Min, h.Max, h.Bins())
	for i, x := range v.vals {
		if p := b.bin(x); p >= 0 {
			h.count[p] += v.counts[i]
		}
	}
	return h
}
