package sim

import (
	"math/rand/v2"
	"slices"
	"testing"

	"amq/onnx"
)

// bcNaiveOffset is the offset in an input of shape in of the element that the
// output element at multi-index idx (of the broadcast shape) reads, computed
// directly from numpy's rule.
func bcNaiveOffset(idx, in []int) int {
	off, stride := 0, 1
	for d := len(in) - 1; d >= 0; d-- {
		i := idx[len(idx)-len(in)+d]
		if in[d] == 1 {
			i = 0
		}
		off += i * stride
		stride *= in[d]
	}
	return off
}

func bcUnravel(flat int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = flat % shape[d]
		flat /= shape[d]
	}
	return idx
}

func TestBroadcastShape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   [][]int
		want []int
	}{
		{[][]int{{2, 3}, {3}}, []int{2, 3}},
		{[][]int{{2, 1, 4}, {3, 1}}, []int{2, 3, 4}},
		{[][]int{{}, {5}}, []int{5}},
		{[][]int{{1}, {}}, []int{1}},
		{[][]int{{0, 3}, {1, 3}}, []int{0, 3}},
		{[][]int{{2, 1}, {1, 3}, {4, 1, 1}}, []int{4, 2, 3}},
	}
	for _, c := range cases {
		got, err := onnx.BroadcastShapes(c.in...)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("onnx.BroadcastShapes(%v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := onnx.BroadcastShapes([]int{2, 3}, []int{4}); err == nil {
		t.Error("onnx.BroadcastShapes([2 3], [4]) succeeded; want an error")
	}
}

// TestBroadcastEach checks that each visits every output element exactly
// once and hands out the input offsets numpy's rule gives, for shapes that
// exercise every coalescing case and row splitting across threads.
func TestBroadcastEach(t *testing.T) {
	t.Parallel()
	cases := [][][]int{
		{{2, 3, 4}, {2, 3, 4}},       // same shape: one row
		{{2, 3, 4}, {}},              // scalar
		{{4, 5}, {5}},                // trailing bias
		{{2, 3, 4, 5}, {1, 3, 1, 1}}, // channel bias
		{{3, 1}, {1, 4}},             // outer product
		{{2, 1}, {2, 3}},             // only the first input blocks merging
		{{2, 1, 3}, {4, 1}, {1, 4, 3}},
		{{1, 1}, {1}},
		{{5, 1, 1, 7}, {1, 6, 1, 1}},
		{{3, 40000}, {3, 1}}, // few long rows: split across threads
		{{70000}, {1}},
		{{2, 0, 3}, {3}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 30; i++ { // random shapes
		rank := 1 + rng.IntN(4)
		out := make([]int, rank)
		for d := range out {
			out[d] = 1 + rng.IntN(4)
		}
		var c [][]int
		for range 1 + rng.IntN(3) {
			r := rng.IntN(rank + 1)
			s := slices.Clone(out[rank-r:])
			for d := range s {
				if rng.IntN(2) == 0 {
					s[d] = 1
				}
			}
			c = append(c, s)
		}
		c = append(c, out)
		j := rng.IntN(len(c)) // the full shape at any position
		c[j], c[len(c)-1] = c[len(c)-1], c[j]
		cases = append(cases, c)
	}
	for _, shapes := range cases {
		b, err := newBroadcast(shapes...)
		if err != nil {
			t.Fatalf("newBroadcast(%v): %v", shapes, err)
		}
		for _, threads := range []int{1, 3} {
			seen := make([]int32, b.size)
			bad := make(chan string, 1)
			b.each(threads, func(out, n int, off []int) {
				for j := range n {
					o := out + j
					seen[o]++ // distinct runs never overlap, so no race
					idx := bcUnravel(o, b.shape)
					for i, s := range shapes {
						got := off[i]
						if b.inc[i] {
							got += j
						}
						if want := bcNaiveOffset(idx, s); got != want {
							select {
							case bad <- "mismatch":
							default:
							}
						}
					}
				}
			})
			select {
			case <-bad:
				t.Errorf("shapes %v, %d threads: wrong input offsets", shapes, threads)
			default:
			}
			for o, c := range seen {
				if c != 1 {
					t.Errorf("shapes %v, %d threads: output %d visited %d times", shapes, threads, o, c)
					break
				}
			}
		}
	}
}

func TestBroadcastTo(t *testing.T) {
	t.Parallel()
	src := []float32{1, 2, 3}
	got, err := broadcastTo(1, src, []int{3, 1}, []int{2, 3, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}
	if !slices.Equal(got, want) {
		t.Errorf("broadcastTo = %v, want %v", got, want)
	}
	if _, err := broadcastTo(1, src, []int{3}, []int{1}); err == nil {
		t.Error("broadcastTo([3] -> [1]) succeeded; want an error")
	}
}
