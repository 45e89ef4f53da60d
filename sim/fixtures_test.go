package sim_test

import (
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// TestFixtures runs every exported PyTorch fixture model in sim and compares
// the result with the output PyTorch computed for the same input.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, f := range testfixture.Fixtures(t, "model_op*.onnx") {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			m, in, ref := f.Load(t), f.Input(t), f.Output(t)
			s, err := sim.NewSession(m, &sim.Options{Threads: 1})
			if err != nil {
				t.Fatalf("%s: %v", f.Model, err)
			}
			if len(s.Inputs()) != 1 || len(s.Outputs()) != 1 {
				t.Fatalf("%s: want one input and one output, got %d and %d", f.Model, len(s.Inputs()), len(s.Outputs()))
			}
			out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0].Name: in})
			if err != nil {
				t.Fatalf("%s: %v", f.Model, err)
			}
			got := out[s.Outputs()[0]]
			maxErr, limit, err := testfixture.CompareToReference(got, ref, 1e-4)
			if err != nil {
				t.Fatalf("%s: output %q: %v", f.Model, s.Outputs()[0], err)
			}
			t.Logf("max abs error %.3g (limit %.3g)", maxErr, limit)
		})
	}
}

// TestFixtureBatchSizes checks that the dynamic batch axis works: running
// the samples one at a time must give the rows of the batched reference.
func TestFixtureBatchSizes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cnn/model_op13", "transformer/model_op17"} {
		t.Run(name, func(t *testing.T) {
			f := testfixture.Named(t, name)
			m, in, ref := f.Load(t), f.Input(t), f.Output(t)
			s, err := sim.NewSession(m, nil)
			if err != nil {
				t.Fatalf("%s: %v", f.Model, err)
			}
			inRow, refRow := in.Len()/in.Shape[0], ref.Len()/ref.Shape[0]
			for b := 0; b < in.Shape[0]; b++ {
				x := onnx.NewTensor(append([]int{1}, in.Shape[1:]...), in.Floats()[b*inRow:(b+1)*inRow])
				want := onnx.NewTensor(append([]int{1}, ref.Shape[1:]...), ref.Floats()[b*refRow:(b+1)*refRow])
				out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0].Name: x})
				if err != nil {
					t.Fatalf("%s sample %d: %v", f.Model, b, err)
				}
				if _, _, err := testfixture.CompareToReference(out[s.Outputs()[0]], want, 1e-4); err != nil {
					t.Fatalf("%s sample %d: %v", f.Model, b, err)
				}
			}
		})
	}
}
