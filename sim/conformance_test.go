package sim

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/onnx/onnxpb"
)

// conformanceSuites are the folders of testfixture.ConformanceDir that are
// walked.
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// conformanceOps is the operator set sim must cover (the list of the issue).
// Cases are selected by this fixed list, not by SupportedOps, so that an
// operator missing from sim shows up as failures instead of fewer cases.
var conformanceOps = strings.Fields(`
	Conv ConvTranspose Gemm MatMul BatchNormalization LayerNormalization
	InstanceNormalization Add Sub Mul Div Pow Sqrt Exp Log Neg Abs Reciprocal
	Min Max Sum Mean Relu LeakyRelu PRelu Elu Selu Sigmoid Tanh Softplus
	HardSigmoid HardSwish Clip Erf Round Floor Ceil Equal Less Greater Where
	Not And Softmax LogSoftmax ReduceMean ReduceSum ReduceMax MaxPool
	AveragePool GlobalAveragePool GlobalMaxPool Flatten Reshape Transpose
	Concat Split Slice Gather Unsqueeze Squeeze Shape Constant ConstantOfShape
	Cast Expand Tile Pad Identity Dropout Resize Range`)

// The opsets of the selected cases: sim targets opsets 11-18, and also
// runs the older operator versions that the suite's PyTorch exports use.
const minConformanceOpset, maxConformanceOpset = 1, 18

// Default tolerance, that of ONNX's backend test runner
// (numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7)).
const defaultRtol, defaultAtol = 1e-3, 1e-7

// caseTolerance widens the tolerance of single cases, each with its reason.
// Keep it short: a wider tolerance can hide a wrong kernel.
var caseTolerance = map[string]struct{ rtol, atol float64 }{
	// ONNX 1.12 made these outputs by truncating float32 to bfloat16, while
	// sim rounds to nearest even, as ONNX's later reference does and as
	// amq's own bfloat16 encoding does: allow one bfloat16 ulp (2^-7 of
	// the value, 8 significant bits).
	"node/test_cast_FLOAT_to_BFLOAT16": {rtol: 1.0 / 128, atol: 0},
}

// skipListFile lists cases that are reported as skipped, one
// "suite/case  # reason" a line.
const skipListFile = "testdata/conformance_skip.txt"

// maxSkipFraction bounds the skip list relative to the selected cases.
const maxSkipFraction = 0.10

type conformanceCase struct {
	suite, name, dir string
}

func (c conformanceCase) id() string { return c.suite + "/" + c.name }

// selectConformanceCases returns every case of the suites whose model uses
// only conformanceOps and imports an ai.onnx opset in range.
func selectConformanceCases(t *testing.T) []conformanceCase {
	t.Helper()
	allowed := map[string]bool{}
	for _, op := range conformanceOps {
		allowed[op] = true
	}
	var cases []conformanceCase
	for _, suite := range conformanceSuites {
		entries, err := os.ReadDir(filepath.Join(testfixture.ConformanceDir, suite))
		if err != nil {
			t.Fatalf("suite %s: %v", suite, err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(testfixture.ConformanceDir, suite, e.Name())
			ok, err := conformanceSelected(filepath.Join(dir, "model.onnx"), allowed)
			if err != nil {
				t.Fatalf("%s/%s: %v", suite, e.Name(), err)
			}
			if ok {
				cases = append(cases, conformanceCase{suite: suite, name: e.Name(), dir: dir})
			}
		}
	}
	return cases
}

// conformanceSelected decodes the model's protobuf directly, so that the
// selection does not depend on the loader under test accepting the model.
func conformanceSelected(path string, allowed map[string]bool) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	opset := int64(-1)
	for _, o := range m.OpsetImport {
		switch o.GetDomain() {
		case "", "ai.onnx":
			opset = o.GetVersion()
		default:
			return false, nil
		}
	}
	if opset < minConformanceOpset || opset > maxConformanceOpset {
		return false, nil
	}
	if len(m.GetGraph().GetNode()) == 0 {
		return false, nil
	}
	for _, n := range m.GetGraph().GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			return false, nil
		}
		if !allowed[n.GetOpType()] {
			return false, nil
		}
	}
	return true, nil
}

// readSkipList parses the skip list into case id -> reason.
func readSkipList(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(skipListFile)
	if err != nil {
		t.Fatalf("skip list: %v", err)
	}
	defer f.Close()
	skips := map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, reason, _ := strings.Cut(text, "#")
		id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
		if strings.ContainsAny(id, " \t") || !strings.Contains(id, "/") {
			t.Fatalf("%s:%d: want \"suite/case  # reason\", got %q", skipListFile, line, text)
		}
		if reason == "" {
			t.Fatalf("%s:%d: case %s has no reason", skipListFile, line, id)
		}
		if _, dup := skips[id]; dup {
			t.Fatalf("%s:%d: case %s is listed twice", skipListFile, line, id)
		}
		skips[id] = reason
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("skip list: %v", err)
	}
	return skips
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testfixture.Conformance(t)
	cases := selectConformanceCases(t)
	skips := readSkipList(t)
	t.Logf("conformance: %d cases selected (ops of the issue, opset %d-%d)", len(cases), minConformanceOpset, maxConformanceOpset)

	selected := map[string]bool{}
	for _, c := range cases {
		selected[c.id()] = true
	}
	for id := range skips {
		if !selected[id] {
			t.Errorf("%s lists %s, which is not a selected case", skipListFile, id)
		}
	}
	if limit := int(maxSkipFraction * float64(len(cases))); len(skips) > limit {
		t.Errorf("%s lists %d cases, more than %.0f%% of the %d selected (%d)", skipListFile, len(skips), 100*maxSkipFraction, len(cases), limit)
	}

	var passed, skipped, failed int
	var stale []string
	for _, c := range cases {
		reason, skip := skips[c.id()]
		ran := false // false when -run filters the case out
		ok := t.Run(c.id(), func(t *testing.T) {
			ran = true
			errs := runConformanceCase(c)
			if skip {
				if len(errs) == 0 {
					stale = append(stale, c.id())
					t.Fatalf("passes but is in %s (%s): remove it from the list", skipListFile, reason)
				}
				t.Skipf("%s (skip list); it fails with: %v", reason, errs[0])
			}
			for _, err := range errs {
				t.Error(err)
			}
		})
		switch {
		case !ran:
		case !ok:
			failed++
		case skip:
			skipped++
		default:
			passed++
		}
	}
	if len(stale) > 0 {
		t.Errorf("skip-listed cases that pass: %s", strings.Join(stale, " "))
	}
	t.Logf("conformance: %d selected, %d passed, %d skipped, %d failed", len(cases), passed, skipped, failed)
	fmt.Printf("conformance: %d selected, %d passed, %d skipped, %d failed\n", len(cases), passed, skipped, failed)
}

// runConformanceCase runs every test_data_set of c and returns what went
// wrong; nil means the case passes.
func runConformanceCase(c conformanceCase) []error {
	m, err := onnx.LoadFile(filepath.Join(c.dir, "model.onnx"))
	if err != nil {
		return []error{fmt.Errorf("load: %w", err)}
	}
	s, err := NewSession(m, nil)
	if err != nil {
		return []error{fmt.Errorf("session: %w", err)}
	}
	sets, err := filepath.Glob(filepath.Join(c.dir, "test_data_set_*"))
	if err != nil || len(sets) == 0 {
		return []error{fmt.Errorf("no test_data_set_* in %s", c.dir)}
	}
	sort.Strings(sets)
	tol, ok := caseTolerance[c.id()]
	if !ok {
		tol.rtol, tol.atol = defaultRtol, defaultAtol
	}
	var errs []error
	for _, set := range sets {
		setName := filepath.Base(set)
		inputs, err := readTensorFiles(set, "input_")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", setName, err))
			continue
		}
		wants, err := readTensorFiles(set, "output_")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", setName, err))
			continue
		}
		feed, err := bindInputs(m.Graph.Inputs, inputs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", setName, err))
			continue
		}
		if len(wants) != len(m.Graph.Outputs) {
			errs = append(errs, fmt.Errorf("%s: %d output files for %d graph outputs", setName, len(wants), len(m.Graph.Outputs)))
			continue
		}
		got, err := s.Run(feed)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: run: %w", setName, err))
			continue
		}
		for i, o := range m.Graph.Outputs {
			g, ok := got[o.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: output %q missing from the result", setName, o.Name))
				continue
			}
			want := wants[i]
			if o.DType == onnx.BFloat16 {
				want = bfloat16FromBits(want)
			}
			if err := compareTensors(g, want, tol.rtol, tol.atol); err != nil {
				errs = append(errs, fmt.Errorf("%s: output %q: %w", setName, o.Name, err))
			}
		}
	}
	return errs
}

// readTensorFiles reads <prefix><k>.pb for k = 0, 1, ... in numeric order.
func readTensorFiles(dir, prefix string) ([]*onnx.Tensor, error) {
	paths, err := filepath.Glob(filepath.Join(dir, prefix+"*.pb"))
	if err != nil {
		return nil, err
	}
	index := func(p string) int {
		k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), prefix), ".pb"))
		if err != nil {
			return -1
		}
		return k
	}
	sort.Slice(paths, func(i, j int) bool { return index(paths[i]) < index(paths[j]) })
	var ts []*onnx.Tensor
	for k, p := range paths {
		if index(p) != k {
			return nil, fmt.Errorf("%s: expected %s%d.pb", p, prefix, k)
		}
		tensor, err := testfixture.ReadTensorPB(p)
		if err != nil {
			return nil, err
		}
		ts = append(ts, tensor)
	}
	return ts, nil
}

// bindInputs maps input files to graph inputs: by the tensor's name when it
// names an input, by position otherwise (as ONNX's runner does).
func bindInputs(graphIn []*onnx.ValueInfo, ts []*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	if len(ts) > len(graphIn) {
		return nil, fmt.Errorf("%d input files for %d graph inputs", len(ts), len(graphIn))
	}
	names := map[string]bool{}
	for _, in := range graphIn {
		names[in.Name] = true
	}
	feed := map[string]*onnx.Tensor{}
	for i, tensor := range ts {
		name := graphIn[i].Name
		if names[tensor.Name] {
			name = tensor.Name
		}
		if _, dup := feed[name]; dup {
			return nil, fmt.Errorf("input %q is given twice", name)
		}
		feed[name] = tensor
	}
	for _, in := range graphIn {
		if t, ok := feed[in.Name]; ok && in.DType == onnx.BFloat16 {
			feed[in.Name] = bfloat16FromBits(t)
		}
	}
	return feed, nil
}

// bfloat16FromBits converts a UINT16 tensor holding bfloat16 bit patterns,
// which is how ONNX's test data stores bfloat16 (NumPy has no such type),
// to the BFLOAT16 tensor amq uses (values widened to float32). Other
// tensors are returned as they are.
func bfloat16FromBits(t *onnx.Tensor) *onnx.Tensor {
	bits, ok := t.Data.([]uint16)
	if !ok || t.DType != onnx.Uint16 {
		return t
	}
	f := make([]float32, len(bits))
	for i, b := range bits {
		f[i] = math.Float32frombits(uint32(b) << 16)
	}
	return &onnx.Tensor{Name: t.Name, DType: onnx.BFloat16, Shape: t.Shape, Data: f}
}

// compareTensors checks dtype, shape and every element of got against want:
// floats within |got-want| <= atol + rtol*|want| (NaN matches NaN, an
// infinity only itself), everything else exactly.
func compareTensors(got, want *onnx.Tensor, rtol, atol float64) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	gf, gok := floatValues(got)
	wf, wok := floatValues(want)
	if gok && wok {
		if len(gf) != len(wf) {
			return fmt.Errorf("%d elements, want %d", len(gf), len(wf))
		}
		bad, first := 0, -1
		worst := 0.0
		for i := range wf {
			g, w := gf[i], wf[i]
			var ok bool
			switch {
			case math.IsNaN(w) || math.IsNaN(g):
				ok = math.IsNaN(w) && math.IsNaN(g)
			case math.IsInf(w, 0) || math.IsInf(g, 0):
				ok = g == w
			default:
				d := math.Abs(g - w)
				ok = d <= atol+rtol*math.Abs(w)
				worst = math.Max(worst, d)
			}
			if !ok {
				bad++
				if first < 0 {
					first = i
				}
			}
		}
		if bad > 0 {
			return fmt.Errorf("%d of %d elements differ beyond rtol=%g atol=%g (max abs diff %g); first at flat index %d: got %g, want %g",
				bad, len(wf), rtol, atol, worst, first, gf[first], wf[first])
		}
		return nil
	}
	gv, wv := reflect.ValueOf(got.Data), reflect.ValueOf(want.Data)
	if gv.Kind() != reflect.Slice || wv.Kind() != reflect.Slice || gv.Type() != wv.Type() {
		return fmt.Errorf("data %T, want %T", got.Data, want.Data)
	}
	if gv.Len() != wv.Len() {
		return fmt.Errorf("%d elements, want %d", gv.Len(), wv.Len())
	}
	for i := 0; i < wv.Len(); i++ {
		if !reflect.DeepEqual(gv.Index(i).Interface(), wv.Index(i).Interface()) {
			return fmt.Errorf("element %d (flat index) is %v, want %v", i, gv.Index(i).Interface(), wv.Index(i).Interface())
		}
	}
	return nil
}

// floatValues widens floating-point data to float64; ok is false for other
// element types.
func floatValues(t *onnx.Tensor) ([]float64, bool) {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, true
	case []float64:
		return d, true
	}
	return nil, false
}
