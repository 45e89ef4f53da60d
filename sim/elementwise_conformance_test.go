package sim

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/internal/testfixture"
	"amq/onnx/onnxpb"
)

// elementwiseOps are the operators of elementwise.go, activation.go,
// compare.go, reduce.go, softmax.go and norm.go.
var elementwiseOps = strings.Fields(`
	Add Sub Mul Div Pow Sqrt Exp Log Neg Abs Reciprocal Min Max Sum Mean
	Relu LeakyRelu PRelu Elu Selu Celu Sigmoid Tanh Softplus Softsign
	HardSigmoid HardSwish ThresholdedRelu Clip Erf Round Floor Ceil Sign
	Equal Less Greater LessOrEqual GreaterOrEqual Where Not And Or Xor
	Softmax LogSoftmax ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd
	ReduceL1 ReduceL2 ReduceSumSquare ReduceLogSum ReduceLogSumExp
	BatchNormalization LayerNormalization InstanceNormalization Gelu`)

// elementwiseKnownFailures are cases of those operators that sim rejects on
// purpose, with the reason.
var elementwiseKnownFailures = map[string]string{
	"node/test_batchnorm_epsilon_training_mode": "training_mode=1: sim runs inference only",
	"node/test_batchnorm_example_training_mode": "training_mode=1: sim runs inference only",
}

// selectElementwiseCases returns the cases whose graph consists of the
// operators above only, at any opset up to maxConformanceOpset: unlike
// TestConformance, older opsets are included, since several operators
// (Elu, And, InstanceNormalization, ...) have cases only there.
func selectElementwiseCases(t *testing.T) []conformanceCase {
	allowed := map[string]bool{}
	for _, op := range elementwiseOps {
		allowed[op] = true
	}
	var cases []conformanceCase
	for _, suite := range conformanceSuites {
		cases = append(cases, selectSuiteCases(t, suite, allowed)...)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].id() < cases[j].id() })
	return cases
}

func selectSuiteCases(t *testing.T, suite string, allowed map[string]bool) []conformanceCase {
	dir := filepath.Join(testfixture.ConformanceDir, suite)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("suite %s: %v", suite, err)
	}
	var cases []conformanceCase
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "model.onnx"))
		if err != nil {
			continue
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		ok := len(m.GetGraph().GetNode()) > 0
		for _, o := range m.OpsetImport {
			if d := o.GetDomain(); (d != "" && d != "ai.onnx") || o.GetVersion() > maxConformanceOpset {
				ok = false
			}
		}
		for _, n := range m.GetGraph().GetNode() {
			if !allowed[n.GetOpType()] || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") {
				ok = false
			}
		}
		if ok {
			cases = append(cases, conformanceCase{suite: suite, name: e.Name(), dir: filepath.Join(dir, e.Name())})
		}
	}
	return cases
}

func TestElementwiseConformance(t *testing.T) {
	t.Parallel()
	testfixture.Conformance(t)
	cases := selectElementwiseCases(t)
	passed := 0
	for _, c := range cases {
		t.Run(c.id(), func(t *testing.T) {
			errs := runConformanceCase(c)
			if reason, known := elementwiseKnownFailures[c.id()]; known {
				if len(errs) == 0 {
					t.Fatalf("passes but is listed as a known failure (%s)", reason)
				}
				return
			}
			for _, err := range errs {
				t.Error(err)
			}
			if len(errs) == 0 {
				passed++
			}
		})
	}
	t.Logf("%d cases, %d passed, %d known failures", len(cases), passed, len(elementwiseKnownFailures))
}
