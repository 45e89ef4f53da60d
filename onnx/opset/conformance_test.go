package opset_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/onnx/opset"
)

// conformanceRefused lists the suite's cases before opset 11 that Upgrade
// refuses, with the reason its error must give.
var conformanceRefused = map[string]string{
	"node/test_scan_sum": "Scan-8",
}

// conformanceCase is one case of the conformance suite: a model and its
// stored inputs and outputs.
type conformanceCase struct {
	id, dir string
}

// oldConformanceCases returns the suite's cases whose model imports an
// ai.onnx opset from opset.Oldest to 10.
func oldConformanceCases(t *testing.T) []conformanceCase {
	t.Helper()
	root := testfixture.Conformance(t)
	models, err := filepath.Glob(filepath.Join(root, "*", "*", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []conformanceCase
	for _, path := range models {
		m, err := onnx.LoadFile(path)
		if err != nil {
			continue // models the loader refuses are sim's and onnx's tests' concern
		}
		if v := m.Opset(); v >= opset.Oldest && v < opset.Target {
			dir := filepath.Dir(path)
			rel, _ := filepath.Rel(root, dir)
			cases = append(cases, conformanceCase{id: filepath.ToSlash(rel), dir: dir})
		}
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].id < cases[j].id })
	return cases
}

// dataSet reads the inputs and outputs of test_data_set_0, named after the
// model's inputs and outputs.
func (c conformanceCase) dataSet(m *onnx.Model) (in, out map[string]*onnx.Tensor, err error) {
	read := func(prefix string, names []string) (map[string]*onnx.Tensor, error) {
		ts := map[string]*onnx.Tensor{}
		for i, name := range names {
			t, err := testfixture.ReadTensorPB(filepath.Join(c.dir, "test_data_set_0", fmt.Sprintf("%s_%d.pb", prefix, i)))
			if err != nil {
				return nil, err
			}
			ts[name] = t
		}
		return ts, nil
	}
	var ins, outs []string
	for _, v := range m.Graph.Inputs {
		ins = append(ins, v.Name)
	}
	for _, v := range m.Graph.Outputs {
		outs = append(outs, v.Name)
	}
	if in, err = read("input", ins); err != nil {
		return nil, nil, err
	}
	out, err = read("output", outs)
	return in, out, err
}

// ortRuns reports whether internal/ort can feed and fetch every tensor
// (it has no strings).
func ortRuns(ts ...map[string]*onnx.Tensor) bool {
	for _, m := range ts {
		for _, t := range m {
			if t.DType == onnx.String {
				return false
			}
		}
	}
	return true
}

// TestUpgradeConformanceSuite converts every model of ONNX's conformance
// suite from opsets 7 to 10 and runs the converted model against the
// suite's stored outputs, in sim when sim has its operators and in ONNX
// Runtime, with the tolerance of ONNX's backend test runner.
func TestUpgradeConformanceSuite(t *testing.T) {
	testfixture.RequireORT(t)
	cases := oldConformanceCases(t)
	if len(cases) == 0 {
		t.Fatal("no conformance case before opset 11")
	}
	var onSim, onORT, refused int
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			m, err := onnx.LoadFile(filepath.Join(c.dir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			up, err := opset.Upgrade(m, opset.Target)
			if want, ok := conformanceRefused[c.id]; ok {
				var e *opset.Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
					t.Fatalf("Upgrade error %v, want an *opset.Error mentioning %q", err, want)
				}
				refused++
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			up = reload(t, up)
			in, want, err := c.dataSet(m)
			if err != nil {
				t.Fatal(err)
			}
			if simRuns(up) {
				onSim++
				if err := compareOutputs(runSim(t, up, in), want, 1e-3, 1e-7); err != nil {
					t.Errorf("sim: %v", err)
				}
			}
			if ortRuns(in, want) {
				onORT++
				if err := compareOutputs(runORT(t, up, in), want, 1e-3, 1e-7); err != nil {
					t.Errorf("ONNX Runtime: %v", err)
				}
			}
		})
	}
	t.Logf("%d cases at opsets %d-10: %d run converted in sim, %d in ONNX Runtime, %d refused", len(cases), opset.Oldest, onSim, onORT, refused)
	if onSim == 0 || onORT == 0 {
		t.Errorf("too few cases ran: %d in sim, %d in ONNX Runtime", onSim, onORT)
	}
}
