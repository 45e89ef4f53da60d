package testfixture

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
)

// Fixture is a model that scripts/make-fixtures.py exported from a real
// PyTorch module into testdata/fixtures/<folder>, with an input and the
// output PyTorch computed for it as the reference.
type Fixture struct {
	// Name is the folder and the model file without .onnx, e.g.
	// "cnn/model_op13": a subtest name.
	Name string
	// Model is the path of the .onnx file.
	Model string
}

// Fixtures returns the fixtures whose model file matches pattern (as in
// filepath.Match, e.g. "model_op*.onnx"), in name order. The fixtures are
// part of the repository, so finding none fails the test.
func Fixtures(tb testing.TB, pattern string) []Fixture {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(Path(tb, "fixtures"), "*", pattern))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatalf("no fixtures %s under testdata/fixtures: run scripts/make-fixtures.py", pattern)
	}
	sort.Strings(paths)
	fs := make([]Fixture, len(paths))
	for i, p := range paths {
		fs[i] = fixtureAt(p)
	}
	return fs
}

// Named returns the fixture called name ("transformer/model_op17"),
// ending the test with Missing when its model file does not exist.
func Named(tb testing.TB, name string) Fixture {
	tb.Helper()
	return fixtureAt(Path(tb, "fixtures", filepath.FromSlash(name)+".onnx"))
}

func fixtureAt(model string) Fixture {
	dir := filepath.Dir(model)
	return Fixture{
		Name:  filepath.Base(dir) + "/" + strings.TrimSuffix(filepath.Base(model), ".onnx"),
		Model: model,
	}
}

// Load reads the fixture's model.
func (f Fixture) Load(tb testing.TB) *onnx.Model {
	tb.Helper()
	m, err := onnx.LoadFile(f.Model)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Input returns the input the fixture's reference output was computed on.
func (f Fixture) Input(tb testing.TB) *onnx.Tensor {
	tb.Helper()
	return ReadNpy(tb, filepath.Join(filepath.Dir(f.Model), "input.npy"))
}

// Output returns PyTorch's output for Input.
func (f Fixture) Output(tb testing.TB) *onnx.Tensor {
	tb.Helper()
	return ReadNpy(tb, filepath.Join(filepath.Dir(f.Model), "output.npy"))
}

// ReadNpy reads a float32 .npy file into a tensor, failing the test on any
// error. It uses npyio, not amq/npy, so that a reference does not depend
// on the code under test.
func ReadNpy(tb testing.TB, path string) *onnx.Tensor {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var data []float32
	if err := r.Read(&data); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	shape := append([]int(nil), r.Header.Descr.Shape...)
	if onnx.NumElems(shape) != len(data) {
		tb.Fatalf("%s: shape %v does not match %d elements", path, shape, len(data))
	}
	return onnx.NewTensor(shape, data)
}

// CompareToReference checks float32 output got against ref with a
// tolerance relative to the output's scale: max|got-ref| <= limit, limit =
// tol·max(1, max|ref|). It returns the largest difference (+Inf for a NaN)
// and the limit, and an error naming the worst element when the limit is
// exceeded (or is NaN, from a NaN in ref) or the shapes or types differ.
func CompareToReference(got, ref *onnx.Tensor, tol float64) (maxErr, limit float64, err error) {
	if fmt.Sprint(got.Shape) != fmt.Sprint(ref.Shape) {
		return 0, 0, fmt.Errorf("shape %v, reference %v", got.Shape, ref.Shape)
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
	worst := 0
	for i := range r {
		d := math.Abs(float64(g[i]) - float64(r[i]))
		if math.IsNaN(d) {
			maxErr, worst = math.Inf(1), i
			break
		}
		if d > maxErr {
			maxErr, worst = d, i
		}
	}
	limit = tol * scale
	// Written so that a NaN in the reference, which makes limit NaN, fails.
	if !(maxErr <= limit) {
		return maxErr, limit, fmt.Errorf("max abs error %.3g at element %d (got %g, reference %g) exceeds %.3g",
			maxErr, worst, g[worst], r[worst], limit)
	}
	return maxErr, limit, nil
}
