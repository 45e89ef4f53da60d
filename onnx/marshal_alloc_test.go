//go:build !race

// Allocation counts change under the race detector: scripts/test.sh runs
// this test without -race.

package onnx

import (
	"fmt"
	"runtime"
	"testing"
)

// TestMarshalAllocatesTheModelOnce: Marshal's buffer is sized to the
// model before the weights are written, instead of doubling as they come.
func TestMarshalAllocatesTheModelOnce(t *testing.T) {
	g := chainGraph(50)
	g.Initializers = map[string]*Tensor{}
	for i := range 50 {
		w := NewTensor([]int{64, 64}, make([]float32, 64*64))
		w.Name = fmt.Sprint("w", i)
		g.Initializers[w.Name] = w
		g.Nodes[i].Inputs[1] = w.Name
	}
	m := &Model{IRVersion: 8, Opsets: map[string]int64{"": 17}, Graph: g}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Sized exactly: what is left is the allocator's rounding to pages.
	if cap(b)-len(b) > 8<<10 {
		t.Errorf("Marshal's %d bytes lie in a buffer of %d", len(b), cap(b))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		if _, err := m.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / runs
	// The weights are 800 KiB; the graph's messages add a few KiB.
	t.Logf("%d-byte model, %.0f bytes allocated", len(b), per)
	if per > 1.1*float64(len(b)) {
		t.Errorf("Marshal of a %d-byte model allocates %.0f bytes", len(b), per)
	}
}
