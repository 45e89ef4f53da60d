package quant

import (
	"slices"
	"testing"

	"amq/backend"
	"amq/onnx"
)

// resultKeeper is a runner (without backend.Observer) that keeps the
// tensors of its last result.
type resultKeeper struct {
	backend.Runner
	out map[string]*onnx.Tensor
}

func (r *resultKeeper) Run(in map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	out, err := r.Runner.Run(in)
	r.out = out
	return out, err
}

// keptResults prepares resultKeepers.
type keptResults struct {
	backend.Backend
	r *resultKeeper
}

func (b *keptResults) Prepare(m *onnx.Model, observe []string) (backend.Runner, error) {
	r, err := b.Backend.Prepare(m, observe)
	if err != nil {
		return nil, err
	}
	b.r = &resultKeeper{Runner: r}
	return b.r, nil
}

func TestWholeBatchesTakeARunnersResultAsItIsAndCopyAStream(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	observe := []string{"r_out", "c1_out"}
	data := calibData(3, 2)
	kept := &keptResults{Backend: testSim}
	var streamed []map[string]*onnx.Tensor
	for _, b := range []backend.Backend{kept, testSim} {
		err := runWholeBatches(b, m, observe, data, data.Len(), func(i int, out map[string]*onnx.Tensor) error {
			for _, name := range observe {
				if b == kept && out[name] != kept.r.out[name] {
					t.Errorf("batch %d: %q is a copy of the runner's result", i, name)
				}
			}
			if b == testSim {
				c := map[string]*onnx.Tensor{}
				for _, name := range observe {
					c[name] = out[name].Clone()
				}
				streamed = append(streamed, c)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The streamed batches, copied as they came, equal sim's results.
	r, err := testSim.Prepare(m, observe)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, in := range data {
		out, err := r.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range observe {
			if !slices.Equal(streamed[i][name].Floats(), out[name].Floats()) {
				t.Errorf("batch %d: streamed %q differs from the run's", i, name)
			}
		}
	}
}
