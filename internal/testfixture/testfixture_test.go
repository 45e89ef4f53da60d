package testfixture

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// recorder is a testing.TB whose Skipf and Fatalf record the message and
// end the goroutine, as the real ones do, without ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs f with a fresh recorder in a goroutine of its own, which Skipf
// or Fatalf may end.
func call(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// TestMissingFailsUnderCIAndSkipsElsewhere checks the rule for a missing
// fixture or runtime.
func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "")
	r := call(t, func(tb testing.TB) { Missing(tb, "no %s", "runtime") })
	if r.skipped != "no runtime" || r.failed != "" {
		t.Errorf("without CI: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = call(t, func(tb testing.TB) { Missing(tb, "no %s", "runtime") })
	if r.failed != "no runtime" || r.skipped != "" {
		t.Errorf("under CI: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}

// TestPathFindsTestdataFromAnyPackage checks that Path resolves against
// the module's testdata folder, not the package's, and that a missing
// file is Missing.
func TestPathFindsTestdataFromAnyPackage(t *testing.T) {
	t.Setenv("CI", "")
	p := Path(t, "fixtures", "cnn", "model_op13.onnx")
	if !filepath.IsAbs(p) || !strings.HasSuffix(filepath.ToSlash(p), "/testdata/fixtures/cnn/model_op13.onnx") {
		t.Errorf("Path = %q", p)
	}
	r := call(t, func(tb testing.TB) { Path(tb, "fixtures", "no-such-fixture") })
	if !strings.Contains(r.skipped, "no-such-fixture") {
		t.Errorf("missing file: skipped %q, failed %q; want a skip naming it", r.skipped, r.failed)
	}
}

// TestFixturesListsEveryExportedModel checks the names and the reference
// files of the fixtures.
func TestFixturesListsEveryExportedModel(t *testing.T) {
	t.Parallel()
	fs := Fixtures(t, "model_op13.onnx")
	if len(fs) < 2 {
		t.Fatalf("%d fixtures, want several", len(fs))
	}
	for i, f := range fs {
		if i > 0 && fs[i-1].Name >= f.Name {
			t.Errorf("fixtures not in name order: %q before %q", fs[i-1].Name, f.Name)
		}
		if !strings.HasSuffix(f.Name, "/model_op13") {
			t.Errorf("fixture name %q", f.Name)
		}
	}
	cnn := Named(t, "cnn/model_op13")
	if cnn.Name != "cnn/model_op13" {
		t.Errorf("Named: name %q", cnn.Name)
	}
	m, in, out := cnn.Load(t), cnn.Input(t), cnn.Output(t)
	if len(m.Graph.Inputs) != 1 || in.Shape[0] != out.Shape[0] || in.DType != onnx.Float {
		t.Errorf("cnn: %d inputs, input %v %v, output %v", len(m.Graph.Inputs), in.DType, in.Shape, out.Shape)
	}
}

// TestCompareToReference checks that the comparison detects a wrong
// element, a NaN on either side and a shape mismatch, and scales its limit
// with the output.
func TestCompareToReference(t *testing.T) {
	t.Parallel()
	ref := onnx.NewTensor([]int{2, 2}, []float32{100, -3, 0.5, 2})
	near := onnx.NewTensor([]int{2, 2}, []float32{100.005, -3, 0.5, 2}) // 5e-3 <= 1e-4*100
	if _, limit, err := CompareToReference(near, ref, 1e-4); err != nil || math.Abs(limit-1e-2) > 1e-12 {
		t.Errorf("error within 1e-4 of the output scale rejected: %v (limit %g)", err, limit)
	}
	far := onnx.NewTensor([]int{2, 2}, []float32{100, -3, 0.52, 2})
	if _, _, err := CompareToReference(far, ref, 1e-4); err == nil || !strings.Contains(err.Error(), "element 2") {
		t.Errorf("wrong element 2 not reported: %v", err)
	}
	nan := onnx.NewTensor([]int{2, 2}, []float32{100, float32(math.NaN()), 0.5, 2})
	if maxErr, _, err := CompareToReference(nan, ref, 1e-4); err == nil || !math.IsInf(maxErr, 1) {
		t.Errorf("NaN accepted: max error %v, error %v", maxErr, err)
	}
	if _, _, err := CompareToReference(ref, nan, 1e-4); err == nil {
		t.Error("NaN in the reference accepted")
	}
	if _, _, err := CompareToReference(onnx.NewTensor([]int{4}, []float32{100, -3, 0.5, 2}), ref, 1e-4); err == nil {
		t.Error("shape mismatch accepted")
	}
	if _, _, err := CompareToReference(onnx.NewTensor([]int{2, 2}, []int32{100, -3, 0, 2}), ref, 1e-4); err == nil {
		t.Error("INT32 output accepted")
	}
}

func TestReadTensorPBDecodesTheSuitesTensors(t *testing.T) {
	t.Parallel()
	dir := Conformance(t, "node", "test_add", "test_data_set_0")
	x, err := ReadTensorPB(filepath.Join(dir, "input_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := ReadTensorPB(filepath.Join(dir, "input_1.pb"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := ReadTensorPB(filepath.Join(dir, "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	// test_add: z = x + y elementwise, all float32 of shape [3 4 5].
	if !slices.Equal(x.Shape, []int{3, 4, 5}) || !slices.Equal(z.Shape, x.Shape) {
		t.Fatalf("shapes %v, %v, %v", x.Shape, y.Shape, z.Shape)
	}
	for i, v := range z.Floats() {
		if want := x.Floats()[i] + y.Floats()[i]; v != want {
			t.Fatalf("output_0[%d] = %g, want input_0+input_1 = %g", i, v, want)
		}
	}
	if _, err := ReadTensorPB(filepath.Join(dir, "input_9.pb")); err == nil || !strings.Contains(err.Error(), "input_9.pb") {
		t.Errorf("reading a missing file: error %v, want one naming it", err)
	}
}
