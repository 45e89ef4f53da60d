package sim_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"

	"amq/onnx"
	"amq/sim"
)

// fixtureDir holds the models that scripts/make-fixtures.py exported from
// real PyTorch modules, with PyTorch's outputs as the reference.
const fixtureDir = "../testdata/fixtures"

// readFixtureNpy reads a float32 .npy file into a tensor.
func readFixtureNpy(path string) (*onnx.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var data []float32
	if err := r.Read(&data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	shape := append([]int(nil), r.Header.Descr.Shape...)
	if onnx.NumElems(shape) != len(data) {
		return nil, fmt.Errorf("%s: shape %v does not match %d elements", path, shape, len(data))
	}
	return onnx.NewTensor(shape, data), nil
}

// compareToReference checks got against ref with a tolerance relative to the
// output's scale: max|got-ref| <= tol * max(1, max|ref|).
func compareToReference(got, ref *onnx.Tensor, tol float64) (maxErr, limit float64, err error) {
	if fmt.Sprint(got.Shape) != fmt.Sprint(ref.Shape) {
		return 0, 0, fmt.Errorf("shape %v, PyTorch has %v", got.Shape, ref.Shape)
	}
	g, ok := got.Data.([]float32)
	if !ok {
		return 0, 0, fmt.Errorf("output is %v, want FLOAT", got.DType)
	}
	r := ref.Floats()
	scale := 1.0
	for _, v := range r {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	limit = tol * scale
	worst := -1
	for i := range r {
		d := math.Abs(float64(g[i]) - float64(r[i]))
		if math.IsNaN(d) || d > maxErr {
			maxErr, worst = d, i
			if math.IsNaN(d) {
				maxErr = math.Inf(1)
				break
			}
		}
	}
	if maxErr > limit {
		return maxErr, limit, fmt.Errorf("max abs error %.3g at element %d (sim %g, PyTorch %g) exceeds %.3g",
			maxErr, worst, g[worst], r[worst], limit)
	}
	return maxErr, limit, nil
}

// TestFixtures runs every exported PyTorch fixture model in sim and compares
// the result with the output PyTorch computed for the same input.
func TestFixtures(t *testing.T) {
	t.Parallel()
	models, err := filepath.Glob(filepath.Join(fixtureDir, "*", "model_op*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(models) == 0 {
		t.Fatalf("no fixtures under %s: run scripts/make-fixtures.py", fixtureDir)
	}
	sort.Strings(models)
	for _, path := range models {
		dir := filepath.Dir(path)
		name := filepath.Base(dir) + "/" + strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := onnx.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in, err := readFixtureNpy(filepath.Join(dir, "input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := readFixtureNpy(filepath.Join(dir, "output.npy"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.NewSession(m, &sim.Options{Threads: 1})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(s.Inputs()) != 1 || len(s.Outputs()) != 1 {
				t.Fatalf("%s: want one input and one output, got %d and %d", path, len(s.Inputs()), len(s.Outputs()))
			}
			out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0].Name: in})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got := out[s.Outputs()[0]]
			maxErr, limit, err := compareToReference(got, ref, 1e-4)
			if err != nil {
				t.Fatalf("%s: output %q: %v", path, s.Outputs()[0], err)
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
			path := filepath.Join(fixtureDir, name+".onnx")
			dir := filepath.Dir(path)
			m, err := onnx.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in, err := readFixtureNpy(filepath.Join(dir, "input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := readFixtureNpy(filepath.Join(dir, "output.npy"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.NewSession(m, nil)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			inRow, refRow := in.Len()/in.Shape[0], ref.Len()/ref.Shape[0]
			for b := 0; b < in.Shape[0]; b++ {
				x := onnx.NewTensor(append([]int{1}, in.Shape[1:]...), in.Floats()[b*inRow:(b+1)*inRow])
				want := onnx.NewTensor(append([]int{1}, ref.Shape[1:]...), ref.Floats()[b*refRow:(b+1)*refRow])
				out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0].Name: x})
				if err != nil {
					t.Fatalf("%s sample %d: %v", path, b, err)
				}
				if _, _, err := compareToReference(out[s.Outputs()[0]], want, 1e-4); err != nil {
					t.Fatalf("%s sample %d: %v", path, b, err)
				}
			}
		})
	}
}

// TestCompareToReference makes sure the fixture comparison detects a wrong
// element, a NaN and a shape mismatch, and scales its limit with the output.
func TestCompareToReference(t *testing.T) {
	t.Parallel()
	ref := onnx.NewTensor([]int{2, 2}, []float32{100, -3, 0.5, 2})
	near := onnx.NewTensor([]int{2, 2}, []float32{100.005, -3, 0.5, 2}) // 5e-3 <= 1e-4*100
	if _, _, err := compareToReference(near, ref, 1e-4); err != nil {
		t.Errorf("error within 1e-4 of the output scale rejected: %v", err)
	}
	far := onnx.NewTensor([]int{2, 2}, []float32{100, -3, 0.52, 2})
	if _, _, err := compareToReference(far, ref, 1e-4); err == nil || !strings.Contains(err.Error(), "element 2") {
		t.Errorf("wrong element 2 not reported: %v", err)
	}
	nan := onnx.NewTensor([]int{2, 2}, []float32{100, float32(math.NaN()), 0.5, 2})
	if _, _, err := compareToReference(nan, ref, 1e-4); err == nil {
		t.Error("NaN accepted")
	}
	if _, _, err := compareToReference(onnx.NewTensor([]int{4}, []float32{100, -3, 0.5, 2}), ref, 1e-4); err == nil {
		t.Error("shape mismatch accepted")
	}
}
