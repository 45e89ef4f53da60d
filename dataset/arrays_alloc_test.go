//go:build !race

// Allocation counts change under the race detector: scripts/test.sh runs
// this test without -race.

package dataset

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"amq/onnx"
)

// batchSink keeps a batch from the stack, as read's result is kept.
var batchSink map[string]*onnx.Tensor

// TestReadingArraysCostsNoMoreThanTheirRows: a batch of a .npz allocates
// what reading and casting its rows does, and a map; the input names are
// not sorted again per batch.
func TestReadingArraysCostsNoMoreThanTheirRows(t *testing.T) {
	arrays := map[string]*onnx.Tensor{}
	g := &onnx.Graph{}
	var names []string
	for i := range 4 {
		name := fmt.Sprint("in", i)
		names = append(names, name)
		arrays[name] = onnx.NewTensor([]int{8, 3}, make([]float32, 24))
		g.Inputs = append(g.Inputs, input(name, onnx.Float, -1, 3))
	}
	p := filepath.Join(t.TempDir(), "a.npz")
	writeNpz(t, p, arrays)
	s, err := openArrays(g, p, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	lo, hi := 2, 4
	read := testing.AllocsPerRun(20, func() {
		if _, err := s.read(lo, hi); err != nil {
			t.Fatal(err)
		}
	})
	rows := testing.AllocsPerRun(20, func() {
		out := make(map[string]*onnx.Tensor, len(names))
		for _, name := range names {
			r, err := s.inputs[name].Rows(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			c, err := castSamples(r, s.to[name], name, func(k int) string { return fmt.Sprintf("%s: sample %d", s.path, lo+k) })
			if err != nil {
				t.Fatal(err)
			}
			out[name] = c
		}
		batchSink = out
	})
	if read > rows {
		t.Errorf("reading a batch allocates %.0f times, its rows and a map %.0f", read, rows)
	}
}
