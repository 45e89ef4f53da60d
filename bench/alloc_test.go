//go:build !race

// The race detector changes what the runtime allocates: scripts/test.sh
// runs this test without it.

package bench

import (
	"runtime"
	"testing"

	"amq/onnx"
	"amq/sim"
)

// steadyRunBytes runs m on a fresh sim session until its buffers are
// planned (warm runs), then returns the Go heap allocated per run over
// measured runs.
func steadyRunBytes(t testing.TB, m *onnx.Model, in *onnx.Tensor, threads, warm, measured int) uint64 {
	s, err := sim.NewSession(m, &sim.Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]*onnx.Tensor{"input": in}
	for i := range warm {
		if i == warm-1 {
			// A collection empties the kernels' scratch pools; the last
			// warm run refills them, so that none falls in the window.
			runtime.GC()
		}
		if _, err := s.Run(inputs); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range measured {
		if _, err := s.Run(inputs); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(measured)
}

// TestResNet18SteadyRunAllocatesUnder1MB: once a session has run a model,
// its runs take the activations' buffers from the session's arena
// (sim/arena.go) instead of the heap: ResNet-18 at batch 8 holds about
// 100 MB of activations over a run, yet a run allocates less than 1 MB
// (output copies, tensor headers, goroutines).
func TestResNet18SteadyRunAllocatesUnder1MB(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	const batch = 8
	per := steadyRunBytes(t, ResNet18(batch, seed), RandomInput(seed, batch, 3, 224, 224), 2, 4, 2)
	t.Logf("ResNet-18 batch %d: %.3f MB allocated per steady-state run", batch, float64(per)/1e6)
	if per >= 1e6 {
		t.Errorf("a steady-state run allocates %d bytes, want under 1 MB", per)
	}
}

// TestReturnedConvAllocatesItsOutputOnly: a convolution whose output the
// run returns writes it to the heap, the caller's, but takes its scratch
// (padded input, phase planes, blocks of the swapped product) from the
// session's arena like any other step: a steady run allocates about the
// output. Each case takes a different path: the swapped product (14x14
// at batch 1), the implicit convolution with planes shared by two threads
// (56x56 at batch 1), and the merged im2col from a padded input (14x14 at
// batch 8).
func TestReturnedConvAllocatesItsOutputOnly(t *testing.T) {
	for _, c := range []struct {
		batch, ch, hw, threads int
	}{
		{1, 256, 14, 1},
		{1, 64, 56, 2},
		{8, 256, 14, 1},
	} {
		b := newBuilder("conv", seed)
		b.conv("/conv", "input", c.ch, c.ch, 3, 1, 1)
		b.g.Nodes[len(b.g.Nodes)-1].Outputs[0] = "output"
		shape := []int{c.batch, c.ch, c.hw, c.hw}
		m := b.model(13, "input", shape, "output", shape)
		out := uint64(onnx.NumElems(shape) * 4)
		per := steadyRunBytes(t, m, RandomInput(seed, shape...), c.threads, 4, 4)
		t.Logf("%v on %d threads: %d bytes per run for a %d-byte output", shape, c.threads, per, out)
		if per > out+out/10+64<<10 {
			t.Errorf("%v on %d threads: a run allocates %d bytes, want about its %d-byte output", shape, c.threads, per, out)
		}
	}
}
