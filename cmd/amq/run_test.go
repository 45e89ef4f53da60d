package main

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
)

// conformanceCase returns the folder of an ONNX node test, skipping the
// test when the ONNX test data is not installed outside CI.
func conformanceCase(t *testing.T, name string) string {
	t.Helper()
	return testfixture.Conformance(t, "node", name)
}

func readPB(t *testing.T, path string) *onnx.Tensor {
	t.Helper()
	tensor, err := testfixture.ReadTensorPB(path)
	if err != nil {
		t.Fatal(err)
	}
	return tensor
}

// pbToNpy converts a stored .pb tensor into a .npy file in dir.
func pbToNpy(t *testing.T, pb, dir, file string) string {
	t.Helper()
	path := filepath.Join(dir, file)
	if err := npy.WriteFile(path, readPB(t, pb)); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameTensor compares float data within ONNX's default test tolerance
// (rtol 1e-3, atol 1e-7) and everything else exactly.
func sameTensor(t *testing.T, what string, got, want *onnx.Tensor) {
	t.Helper()
	if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v %v, want %v %v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	g, gok := got.Data.([]float32)
	w, wok := want.Data.([]float32)
	if !gok || !wok {
		if !reflect.DeepEqual(got.Data, want.Data) {
			t.Fatalf("%s: got %v, want %v", what, got.Data, want.Data)
		}
		return
	}
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > 1e-7+1e-3*math.Abs(float64(w[i])) {
			t.Fatalf("%s: element %d is %g, want %g", what, i, g[i], w[i])
		}
	}
}

// TestRunMatchesInputsByName runs a two-input model with --input name=path
// given in another order than the graph's, and checks the printed summary
// and the output against ONNX's reference.
func TestRunMatchesInputsByName(t *testing.T) {
	t.Parallel()
	dir := conformanceCase(t, "test_add")
	tmp := t.TempDir()
	x := pbToNpy(t, filepath.Join(dir, "test_data_set_0/input_0.pb"), tmp, "x.npy")
	y := pbToNpy(t, filepath.Join(dir, "test_data_set_0/input_1.pb"), tmp, "y.npy")
	outPath := filepath.Join(tmp, "sum.npy")
	out := mustAmq(t, "run", "--model", filepath.Join(dir, "model.onnx"),
		"--input", "y="+y, "--input", "x="+x, "--output", outPath, "--threads", "1")
	if !strings.Contains(out.String(), "sum\t[3 4 5]\tFLOAT") || !strings.Contains(out.String(), "run ") {
		t.Errorf("output lacks name, shape, type or timing:\n%s", out)
	}
	got, err := npy.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "sum", got, readPB(t, filepath.Join(dir, "test_data_set_0/output_0.pb")))
}

// TestRunTakesBarePathForOnlyInput checks that a single-input model takes
// --input without a name.
func TestRunTakesBarePathForOnlyInput(t *testing.T) {
	t.Parallel()
	dir := conformanceCase(t, "test_relu")
	tmp := t.TempDir()
	x := pbToNpy(t, filepath.Join(dir, "test_data_set_0/input_0.pb"), tmp, "in.npy")
	outPath := filepath.Join(tmp, "y.npy")
	mustAmq(t, "run", "--model", filepath.Join(dir, "model.onnx"), "--input", x, "--output", outPath)
	got, err := npy.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "y", got, readPB(t, filepath.Join(dir, "test_data_set_0/output_0.pb")))
}

// TestRunWritesEveryOutputIntoFolder checks that --output naming a folder
// receives one .npy per output, that one output cannot go to two places and
// that a single .npy cannot hold several outputs.
func TestRunWritesEveryOutputIntoFolder(t *testing.T) {
	t.Parallel()
	dir := conformanceCase(t, "test_split_equal_parts_1d")
	tmp := t.TempDir()
	x := pbToNpy(t, filepath.Join(dir, "test_data_set_0/input_0.pb"), tmp, "in.npy")
	outDir := filepath.Join(tmp, "outs")
	named := filepath.Join(tmp, "second.npy")
	out, err := amq(t, "run", "--model", filepath.Join(dir, "model.onnx"), "--input", "input="+x,
		"--output", outDir, "--output", "output_2="+named)
	if err == nil || !strings.Contains(err.Error(), "output_2") {
		t.Fatalf("an output sent to two places: err %v\n%s", err, out)
	}
	out, err = amq(t, "run", "--model", filepath.Join(dir, "model.onnx"), "--input", "input="+x, "--output", outDir)
	if err != nil {
		t.Fatalf("amq run: %v\n%s", err, out)
	}
	for i, name := range []string{"output_1", "output_2", "output_3"} {
		got, err := npy.ReadFile(filepath.Join(outDir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		sameTensor(t, name, got, readPB(t, filepath.Join(dir, "test_data_set_0", "output_"+string(rune('0'+i))+".pb")))
	}
	// A single .npy path cannot hold three outputs.
	_, err = amq(t, "run", "--model", filepath.Join(dir, "model.onnx"), "--input", x, "--output", filepath.Join(tmp, "one.npy"))
	if err == nil || !strings.Contains(err.Error(), "3 outputs") {
		t.Errorf("three outputs into one .npy: error %v", err)
	}
}

// TestRunErrorsNameTheProblem checks the error of each bad --input,
// --backend, --threads and --model.
func TestRunErrorsNameTheProblem(t *testing.T) {
	dir := conformanceCase(t, "test_add")
	model := filepath.Join(dir, "model.onnx")
	tmp := t.TempDir()
	x := pbToNpy(t, filepath.Join(dir, "test_data_set_0/input_0.pb"), tmp, "x.npy")
	bad := filepath.Join(tmp, "bad.npy")
	os.WriteFile(bad, []byte("not numpy"), 0o644)
	// A backend amq knows of but this binary lacks (as ascend is in a
	// build without the ACL bindings).
	knownBackends["npu-test"] = "a test runtime"
	defer delete(knownBackends, "npu-test")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--input", "x=" + x}, "no --input for y"},
		{[]string{"--input", "z=" + x, "--input", "y=" + x}, `"z" is not an input`},
		{[]string{"--input", "x=" + x, "--input", "x=" + x}, "given twice"},
		{[]string{"--input", "x=" + bad, "--input", "y=" + x}, "bad.npy"},
		{[]string{"--input", "x=" + x, "--input", "y=" + x, "--backend", "npu-test"}, `"npu-test" is not built into`},
		{[]string{"--input", "x=" + x, "--input", "y=" + x, "--backend", "tpu"}, `unknown backend "tpu"`},
		{[]string{"--input", "x=" + x, "--input", "y=" + x, "--threads", "-2"}, "--threads"},
	}
	for _, c := range cases {
		out, err := amq(t, append([]string{"run", "--model", model}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q\n%s", c.args, err, c.want, out)
		}
	}
	if _, err := amq(t, "run", "--model", filepath.Join(tmp, "missing.onnx"), "--input", x); err == nil || !strings.Contains(err.Error(), "missing.onnx") {
		t.Errorf("missing model: error %v", err)
	}
}

// TestRunUpgradesOldOpsets runs PyTorch's Upsample model of opset 9 (which
// sim runs only as the Resize of opset 11) and checks that the run says
// so and matches PyTorch's output.
func TestRunUpgradesOldOpsets(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "oldopset", "nearest", "model_op9.onnx")
	out := filepath.Join(t.TempDir(), "y.npy")
	res := mustAmq(t, "run", "--model", model, "--input", filepath.Join(filepath.Dir(model), "input.npy"), "--output", out, "--threads", "1")
	if !strings.Contains(res.Stdout, "converted from opset 9 to 11") {
		t.Errorf("output does not tell of the conversion:\n%s", res)
	}
	got, err := npy.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := testfixture.ReadNpy(t, filepath.Join(filepath.Dir(model), "output.npy"))
	if _, _, err := testfixture.CompareToReference(got, want, 1e-5); err != nil {
		t.Errorf("output vs PyTorch: %v", err)
	}
}

// TestRunPrecisionListsOverflowingNodes runs the fp16 norm fixture
// (sim/testdata/fp16) with --precision: force_fp16 names the two nodes
// whose sums of squares overflow float16, with their counts, and writes
// what float16 computes (the overflowed RMSNorm row collapses to zeros);
// force_fp32 computes the norms in float32 and flags nothing.
func TestRunPrecisionListsOverflowingNodes(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "y")
	out := mustAmq(t, "run", "--model", "../../sim/testdata/fp16/model.onnx", "--input", "../../sim/testdata/fp16/x.npy",
		"--precision", "force_fp16", "--output", y)
	for _, want := range []string{"fp16 (sim, force_fp16): 2 tensor(s) overflow", "rms/ReduceSumSquare  ReduceSumSquare  ss", "ln/Pow"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rms, err := npy.ReadFile(filepath.Join(y, "rms_out.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if row := rms.Floats()[:16]; !reflect.DeepEqual(row, make([]float32, 16)) {
		t.Errorf("rms_out row 0 under force_fp16 = %v, want zeros", row)
	}
	out, err = amq(t, "run", "--model", "../../sim/testdata/fp16/model.onnx", "--input", "../../sim/testdata/fp16/x.npy", "--precision", "force_fp32")
	if err != nil || !strings.Contains(out.Stdout, "fp16 (sim, force_fp32): no operator computes in float16") {
		t.Errorf("force_fp32: %v\n%s", err, out)
	}
	if _, err := amq(t, "run", "--model", "../../sim/testdata/fp16/model.onnx", "--input", "../../sim/testdata/fp16/x.npy", "--precision", "fp16"); err == nil || !strings.Contains(err.Error(), "--precision") {
		t.Errorf("--precision fp16: %v", err)
	}
}
