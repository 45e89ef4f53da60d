package cann_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"amq/backend"
	"amq/cann"
	"amq/cgo/fake/fakeacl"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// The tests run the whole Go -> cgo -> shim -> libascendcl path against
// amq's fake runtime (cgo/fake), built by scripts/test-ascend.sh, which sets
// AMQ_ASCENDCL_LIB. ACL is initialized once per process, so the tests of a
// missing or stub library run in child processes (helperProcess).

var (
	fakeLib  string
	fakeATC  string
	setupErr error
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("AMQ_CANN_TEST_HELPER"); mode != "" {
		os.Exit(helperProcess(mode))
	}
	fakeLib = os.Getenv("AMQ_ASCENDCL_LIB")
	if fakeLib != "" {
		setupErr = setup()
	}
	os.Exit(m.Run())
}

func setup() error {
	if _, err := cann.Open(fakeLib); err != nil {
		return err
	}
	if err := fakeacl.Install(); err != nil {
		return err
	}
	fakeATC = os.Getenv("AMQ_ATC")
	if fakeATC == "" {
		dir, err := os.MkdirTemp("", "amq-fakeatc-")
		if err != nil {
			return err
		}
		fakeATC = filepath.Join(dir, "atc")
		out, err := exec.Command("go", "build", "-o", fakeATC, "amq/cgo/fake/fakeatc").CombinedOutput()
		if err != nil {
			return fmt.Errorf("building fake ATC: %v\n%s", err, out)
		}
	}
	return nil
}

// requireFake skips without the fake library, unless under CI.
func requireFake(t *testing.T) {
	t.Helper()
	if fakeLib == "" {
		testfixture.Missing(t, "AMQ_ASCENDCL_LIB is not set: run scripts/test-ascend.sh, which builds the fake runtime and sets it")
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// leaks returns the fake's live resource count.
func leaks(t *testing.T) (int, string) {
	t.Helper()
	n, s, err := fakeacl.Leaks()
	if err != nil {
		t.Fatal(err)
	}
	return n, s
}

func fakeBackend(t *testing.T, devices ...int) *cann.Backend {
	return cann.New(cann.Options{Devices: devices, ATC: fakeATC, CacheDir: t.TempDir(), SocVersion: "Ascend310P3"})
}

// testModel: x[2,4] -> MatMul W -> h -> Relu -> r -> AscendQuant -> q (int8)
// -> AscendAntiQuant -> dq -> Add b -> y. Observing h, q and x covers a
// float intermediate, an int8 one (returned by ATC as FP32) and an input.
func testModel() *onnx.Model {
	g := &onnx.Graph{Name: "t", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: []onnx.Dim{{Param: "N"}, {Value: 4}}}}
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5-2) / 3
	}
	W := onnx.NewTensor([]int{4, 3}, w)
	W.Name = "W"
	b := onnx.NewTensor([]int{3}, []float32{0.5, -0.25, 1})
	b.Name = "b"
	g.SetInitializer(W)
	g.SetInitializer(b)
	nd := func(op, name string, in, out []string, attrs ...any) *onnx.Node {
		n := &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: out}
		for i := 0; i+1 < len(attrs); i += 2 {
			n.SetAttr(attrs[i].(string), attrs[i+1])
		}
		return n
	}
	g.Nodes = []*onnx.Node{
		nd("MatMul", "mm", []string{"x", "W"}, []string{"h"}),
		nd("Relu", "relu", []string{"h"}, []string{"r"}),
		nd("AscendQuant", "quant", []string{"r"}, []string{"q"}, "scale", float32(20), "offset", float32(-128), "dst_type", "INT8"),
		nd("AscendAntiQuant", "anti", []string{"q"}, []string{"dq"}, "scale", float32(0.05), "offset", float32(128)),
		nd("Add", "add", []string{"dq", "b"}, []string{"y"}),
	}
	g.Outputs = []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}
	g.Reindex()
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

func batch(rng *rand.Rand, n int) map[string]*onnx.Tensor {
	x := make([]float32, n*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
	}
	return map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{n, 4}, x)}
}

var observe = []string{"h", "q", "x"}

func simRun(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor) map[string]*onnx.Tensor {
	t.Helper()
	s, err := sim.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(in, observe...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTensors(t *testing.T, what string, got, want map[string]*onnx.Tensor, names ...string) {
	t.Helper()
	for _, n := range names {
		g, w := got[n], want[n]
		if g == nil || w == nil {
			t.Errorf("%s: tensor %q missing (got %v, want %v)", what, n, g != nil, w != nil)
			continue
		}
		if g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !reflect.DeepEqual(g.Data, w.Data) {
			t.Errorf("%s: tensor %q differs:\n got %v %v %v\nwant %v %v %v", what, n, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
		}
	}
}

// atcNamings are the fake ATC's ways to order and name a model's I/O
// (AMQ_FAKE_ATC_OUTPUTS): "" keeps the --out_nodes order and the tensor
// names; the others reverse inputs and outputs and name the outputs as
// real ATC does.
var atcNamings = []string{"", "node", "node-tensor", "position"}

// eachNaming runs f once per fake ATC naming, each with its own .om cache.
func eachNaming(t *testing.T, f func(t *testing.T)) {
	for _, naming := range atcNamings {
		name := naming
		if name == "" {
			name = "tensor-names"
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv("AMQ_FAKE_ATC_OUTPUTS", naming)
			f(t)
		})
	}
}

func TestAscendMatchesSim(t *testing.T) {
	requireFake(t)
	eachNaming(t, func(t *testing.T) {
		base, _ := leaks(t)
		m := testModel()
		r, err := fakeBackend(t, 0).Prepare(m, observe)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
		for i, n := range []int{2, 2, 5} { // a new batch size compiles a second .om
			in := batch(rng, n)
			got, err := r.Run(in)
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			want := simRun(t, m, in)
			sameTensors(t, fmt.Sprintf("batch %d", i), got, want, "y", "h", "q", "x")
			if q := got["q"].Data.([]int8); i == 0 {
				var nz int
				for _, v := range q {
					if v != -128 {
						nz++
					}
				}
				if nz == 0 {
					t.Fatalf("int8 observation is degenerate: %v", q)
				}
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n, s := leaks(t); n != base {
			t.Fatalf("%d resources leaked:\n%s", n-base, s)
		}
	})
}

// subModel: a, b -> Sub -> d -> Relu -> y, every name after prefix.
func subModel(prefix string) *onnx.Model {
	g := &onnx.Graph{Name: "sub", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	for _, n := range []string{"a", "b"} {
		g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: prefix + n, DType: onnx.Float, Shape: onnx.KnownDims([]int{2, 3})})
	}
	g.Nodes = []*onnx.Node{
		{Name: prefix + "sub", OpType: "Sub", Inputs: []string{prefix + "a", prefix + "b"}, Outputs: []string{prefix + "d"}},
		{Name: prefix + "relu", OpType: "Relu", Inputs: []string{prefix + "d"}, Outputs: []string{prefix + "y"}},
	}
	g.Outputs = []*onnx.ValueInfo{{Name: prefix + "y", DType: onnx.Float}}
	g.Reindex()
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

// subMatchesSim runs subModel(prefix) on the fake device under every ATC
// naming and compares d and y with sim.
func subMatchesSim(t *testing.T, prefix string) {
	m := subModel(prefix)
	in := map[string]*onnx.Tensor{
		prefix + "a": onnx.NewTensor([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		prefix + "b": onnx.NewTensor([]int{2, 3}, []float32{6, 5, 4, 3, 2, 1}),
	}
	s, err := sim.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, prefix+"d")
	if err != nil {
		t.Fatal(err)
	}
	eachNaming(t, func(t *testing.T) {
		r, err := fakeBackend(t, 0).Prepare(m, []string{prefix + "d"})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := r.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, "Sub", got, want, prefix+"d", prefix+"y")
	})
}

// TestInputsAreFedByName: with two inputs of one shape into Sub, feeding
// them in the .om's order instead of by name would change the result.
func TestInputsAreFedByName(t *testing.T) {
	requireFake(t)
	subMatchesSim(t, "")
}

// TestLongNamesAreNotCut: names past ACL_MAX_TENSOR_NAME_LEN (128), as in
// exported LLMs and ATC's "node:index:tensor", still match.
func TestLongNamesAreNotCut(t *testing.T) {
	requireFake(t)
	subMatchesSim(t, "/model/layers.11/self_attn/"+strings.Repeat("long_scope/", 16))
}

// TestOutputATCRenamedIsAnErrorNamingTheTensor: when ATC reports an
// output under a name that no rule maps back (a node it expanded), Run
// fails naming the tensor, and the model it loaded is released.
func TestOutputATCRenamedIsAnErrorNamingTheTensor(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	t.Setenv("AMQ_FAKE_ATC_OUTPUTS", "node")
	t.Setenv("AMQ_FAKE_ATC_RENAME", "mm:0=mm/expanded/MatMul:0")
	r, err := fakeBackend(t, 0).Prepare(testModel(), observe)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(batch(rand.New(rand.NewSource(8)), 2))
	if err == nil {
		t.Fatal("no error although the .om lacks tensor h")
	}
	t.Log(err)
	for _, want := range []string{`no output for tensor "h"`, "--out_nodes mm:0", `"mm/expanded/MatMul:0"`, ".om"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources leaked:\n%s", n-base, s)
	}
}

func TestATCCacheAndCommandLine(t *testing.T) {
	requireFake(t)
	log := filepath.Join(t.TempDir(), "atc.log")
	t.Setenv("AMQ_FAKE_ATC_LOG", log)
	cache := t.TempDir()
	m := testModel()
	for round := 0; round < 2; round++ {
		r, err := cann.New(cann.Options{ATC: fakeATC, CacheDir: cache, SocVersion: "Ascend310P3"}).Prepare(m, observe)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(batch(rand.New(rand.NewSource(2)), 3)); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("ATC ran %d times for the same model and shape, want 1 (cache):\n%s", len(lines), b)
	}
	for _, want := range []string{"--framework=5", "--soc_version=Ascend310P3", "--input_shape=x:3,4",
		"--out_nodes=mm:0;quant:0;add:0", "--output_type=FP32"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("ATC command line lacks %q: %s", want, lines[0])
		}
	}
}

// TestPrecisionModeReachesATCAndTheBoard checks that Options.Precision
// becomes ATC's --precision_mode (and no mode, none) and that the fake
// board, which executes its .om's mode, then equals sim emulating that
// mode and differs from sim in float32.
func TestPrecisionModeReachesATCAndTheBoard(t *testing.T) {
	requireFake(t)
	log := filepath.Join(t.TempDir(), "atc.log")
	t.Setenv("AMQ_FAKE_ATC_LOG", log)
	m := testModel()
	in := batch(rand.New(rand.NewSource(4)), 3)
	for _, p := range []backend.Precision{backend.ForceFP16, backend.PrecisionDefault} {
		r, err := cann.New(cann.Options{ATC: fakeATC, CacheDir: t.TempDir(), SocVersion: "Ascend310P3", Precision: p}).Prepare(m, observe)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := sim.NewSession(m, &sim.Options{Precision: p})
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(in, observe...)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, string(p), got, want, "y", "h", "q", "x")
		if p == backend.ForceFP16 && reflect.DeepEqual(got["h"].Data, simRun(t, m, in)["h"].Data) {
			t.Errorf("force_fp16 board equals float32 sim: the mode did nothing")
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "--precision_mode=force_fp16") || strings.Contains(lines[1], "--precision_mode") {
		t.Errorf("ATC command lines, want --precision_mode=force_fp16 then none:\n%s", b)
	}
}

func TestTwoDevicesEqualOne(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	m := testModel()
	rng := rand.New(rand.NewSource(3))
	var batches []map[string]*onnx.Tensor
	for i := 0; i < 8; i++ {
		batches = append(batches, batch(rng, 2))
	}
	run := func(b *cann.Backend) []map[string]*onnx.Tensor {
		r, err := b.Prepare(m, observe)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res := make([]map[string]*onnx.Tensor, len(batches))
		errs := make([]error, len(batches))
		var wg sync.WaitGroup
		sem := make(chan struct{}, b.Concurrency())
		for i := range batches {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res[i], errs[i] = r.Run(batches[i])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		return res
	}
	loads0, _ := fakeacl.Calls("aclmdlLoadFromFile")
	two := run(fakeBackend(t, 0, 1))
	loads1, _ := fakeacl.Calls("aclmdlLoadFromFile")
	one := run(fakeBackend(t, 0))
	if loads1-loads0 != 2 {
		t.Errorf("2-device run loaded the model %d times, want once per device", loads1-loads0)
	}
	for i := range batches {
		sameTensors(t, fmt.Sprintf("batch %d", i), two[i], one[i], "y", "h", "q", "x")
	}
	var c backend.Concurrent = fakeBackend(t, 0, 1)
	if c.Concurrency() != 2 {
		t.Error("Concurrency() != 2 for two devices")
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources leaked:\n%s", n-base, s)
	}
}

func TestATCFailureShowsStderr(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	t.Setenv("AMQ_FAKE_ATC_FAIL", "E10001: Value [Ascend999] for parameter [--soc_version] is invalid")
	r, err := fakeBackend(t, 0).Prepare(testModel(), observe)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(batch(rand.New(rand.NewSource(4)), 2))
	if err == nil || !strings.Contains(err.Error(), "E10001: Value [Ascend999]") || !strings.Contains(err.Error(), "ATC failed") {
		t.Fatalf("want ATC's stderr in the error, got %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources leaked:\n%s", n-base, s)
	}
}

func TestBadInputsAreErrorsWithoutLeaks(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	r, err := fakeBackend(t, 0).Prepare(testModel(), observe)
	if err != nil {
		t.Fatal(err)
	}
	short := &onnx.Tensor{DType: onnx.Float, Shape: []int{2, 4}, Data: make([]float32, 7)}
	cases := []struct {
		in   map[string]*onnx.Tensor
		want string
	}{
		{map[string]*onnx.Tensor{"x": short}, `input "x": tensor holds 7 elements, its shape [2 4] needs 8`},
		{map[string]*onnx.Tensor{}, `input "x" is missing`},
		{map[string]*onnx.Tensor{"x": batch(rand.New(rand.NewSource(5)), 2)["x"], "z": short}, `"z" is not an input`},
	}
	for _, c := range cases {
		_, err := r.Run(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
	if _, err := fakeBackend(t, 7).Prepare(testModel(), nil); err == nil || !strings.Contains(err.Error(), "device 7 does not exist (2 device(s) found)") {
		t.Errorf("bad device: %v", err)
	}
	if _, err := fakeBackend(t, 0).Prepare(testModel(), []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope" is not defined`) {
		t.Errorf("bad observe: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources leaked:\n%s", n-base, s)
	}
}

// TestEachACLCallFailing makes each ACL call of a Prepare/Run/Close cycle
// fail in turn and checks that the error names the call, carries the
// runtime's message, and that nothing but a refused release stays alive.
func TestEachACLCallFailing(t *testing.T) {
	requireFake(t)
	m := testModel()
	in := batch(rand.New(rand.NewSource(6)), 2)
	cache := t.TempDir()
	funcs := []string{"aclrtGetDeviceCount", "aclrtSetDevice", "aclrtCreateContext", "aclrtCreateStream",
		"aclrtSetCurrentContext", "aclmdlLoadFromFile", "aclmdlCreateDesc", "aclmdlGetDesc",
		"aclmdlGetInputDims", "aclmdlGetOutputDims", "aclmdlCreateDataset", "aclrtMalloc",
		"aclCreateDataBuffer", "aclmdlAddDatasetBuffer", "aclrtMemcpy", "aclmdlExecute",
		// teardown: a refused release leaves its object behind
		"aclmdlDestroyDataset", "aclDestroyDataBuffer", "aclrtFree", "aclmdlDestroyDesc",
		"aclmdlUnload", "aclrtDestroyStream", "aclrtDestroyContext", "aclrtResetDevice"}
	for i, fn := range funcs {
		teardown := i >= 16
		t.Run(fn, func(t *testing.T) {
			base, _ := leaks(t)
			msg := "injected failure of " + fn
			if err := fakeacl.Inject(fn, 1, 507000+i, msg); err != nil {
				t.Fatal(err)
			}
			defer fakeacl.ClearFaults()
			var errs []error
			r, err := cann.New(cann.Options{ATC: fakeATC, CacheDir: cache, SocVersion: "Ascend310P3"}).Prepare(m, observe)
			errs = append(errs, err)
			if err == nil {
				_, err = r.Run(in)
				errs = append(errs, err, r.Close())
			}
			err = errors.Join(errs...)
			if err == nil {
				t.Fatalf("no error although %s failed", fn)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), fn) || !strings.Contains(err.Error(), msg) {
				t.Errorf("error does not name %s and its message: %v", fn, err)
			}
			n, s := leaks(t)
			if teardown {
				if n <= base {
					t.Errorf("refused release of %s not visible in the leak report", fn)
				}
			} else if n != base {
				t.Errorf("%d resources leaked:\n%s", n-base, s)
			}
		})
	}
}

func TestDriftIsVisible(t *testing.T) {
	requireFake(t)
	m := testModel()
	r, err := fakeBackend(t, 0).Prepare(m, observe)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := fakeacl.SetDrift(1e-2); err != nil {
		t.Fatal(err)
	}
	defer fakeacl.SetDrift(0)
	in := batch(rand.New(rand.NewSource(7)), 2)
	got, err := r.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want := simRun(t, m, in)
	g, w := got["y"].Floats(), want["y"].Floats()
	for i := range g {
		if d := g[i] - (w[i]*1.01 + 0.01); d > 1e-5 || d < -1e-5 {
			t.Fatalf("y[%d] = %v, want drifted %v", i, g[i], w[i]*1.01+0.01)
		}
	}
}

// helperProcess runs in a child: it opens the library named by
// AMQ_ASCENDCL_LIB and prints the error of a Prepare.
func helperProcess(mode string) int {
	_, err := cann.New(cann.Options{ATC: "true", CacheDir: os.TempDir(), SocVersion: "x"}).Prepare(testModel(), nil)
	if err == nil {
		fmt.Println("no error")
		return 0
	}
	fmt.Println(err)
	if mode == "stub" && !errors.Is(err, cann.ErrStub) {
		fmt.Println("not ErrStub")
	}
	return 0
}

func childError(t *testing.T, mode, lib string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AMQ_CANN_TEST_HELPER="+mode, "AMQ_ASCENDCL_LIB="+lib)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

func TestMissingLibraryErrorSaysHowToFixIt(t *testing.T) {
	requireFake(t)
	out := childError(t, "missing", "/nonexistent/libascendcl.so")
	if !strings.Contains(out, "cannot load the ACL library") || !strings.Contains(out, "/nonexistent/libascendcl.so") ||
		!strings.Contains(out, "set_env.sh") {
		t.Fatalf("missing library error: %s", out)
	}
}

func TestStubLibraryErrorPointsToSim(t *testing.T) {
	requireFake(t)
	stub := os.Getenv("AMQ_ASCENDCL_STUB_LIB")
	if stub == "" {
		stub = filepath.Join(filepath.Dir(fakeLib), "libascendcl_stub.so")
	}
	if _, err := os.Stat(stub); err != nil {
		t.Fatalf("stub library: %v", err)
	}
	out := childError(t, "stub", stub)
	if !strings.Contains(out, "CANN runtime is a stub library: no NPU available") || !strings.Contains(out, "--backend sim") ||
		strings.Contains(out, "not ErrStub") {
		t.Fatalf("stub library error: %s", out)
	}
}
