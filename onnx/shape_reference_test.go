package onnx_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// TestInferShapesConformance infers the output shapes of ONNX's node test
// models from the shapes of their stored inputs and compares them with the
// shapes of the stored outputs.
func TestInferShapesConformance(t *testing.T) {
	testfixture.Conformance(t)
	models, _ := filepath.Glob(filepath.Join(testfixture.ConformanceDir, "node", "*", "model.onnx"))
	checked, unsupported, dataDependent, unreadable := 0, 0, 0, 0
	unsupportedOps := map[string]int{}
	for _, path := range models {
		dir := filepath.Dir(path)
		name := filepath.Base(dir)
		m, err := onnx.LoadFile(path)
		if err != nil {
			unreadable++
			continue
		}
		g := m.Graph
		inputs := map[string][]int{}
		ok := true
		for i, in := range g.Inputs {
			tt, err := testfixture.ReadTensorPB(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				ok = false // optional or sequence inputs: not tensors
				break
			}
			inputs[in.Name] = tt.Shape
		}
		var want [][]int
		for i := range g.Outputs {
			tt, err := testfixture.ReadTensorPB(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				ok = false
				break
			}
			want = append(want, tt.Shape)
		}
		if !ok {
			unreadable++
			continue
		}
		got, err := onnx.InferShapes(g, inputs)
		if err != nil {
			msg := err.Error()
			switch {
			case strings.Contains(msg, "not supported by shape inference"):
				unsupported++
				for _, n := range g.Nodes {
					unsupportedOps[n.OpType]++
				}
			case strings.Contains(msg, "at run time") || strings.Contains(msg, "known only at run time") || strings.Contains(msg, "not known before running"):
				dataDependent++
			default:
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		for i, o := range g.Outputs {
			if !slices.Equal(got[o.Name], want[i]) {
				t.Errorf("%s: output %q: inferred %v, stored output has %v", name, o.Name, got[o.Name], want[i])
			}
		}
		checked++
	}
	var ops []string
	for op := range unsupportedOps {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	t.Logf("shape inference: %d models checked against stored outputs, %d with ops outside its scope, %d with data-dependent shapes, %d not readable as tensors",
		checked, unsupported, dataDependent, unreadable)
	t.Logf("ops of the out-of-scope models: %s", strings.Join(ops, " "))
	if checked < 500 {
		t.Errorf("only %d models checked; expected at least 500", checked)
	}
}

// TestInferShapesFixtures checks the torch-exported fixture models: the
// inferred shape of each output equals the shape of PyTorch's output.
func TestInferShapesFixtures(t *testing.T) {
	fixtures := testfixture.Fixtures(t, "model_op*.onnx")
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, in, want := f.Load(t), f.Input(t), f.Output(t)
			got, err := onnx.InferShapes(m.Graph, map[string][]int{m.Graph.Inputs[0].Name: in.Shape})
			if err != nil {
				t.Fatalf("%s: %v", f.Model, err)
			}
			if o := m.Graph.Outputs[0].Name; !slices.Equal(got[o], want.Shape) {
				t.Errorf("%s: output %q inferred %v, PyTorch gave %v", f.Model, o, got[o], want.Shape)
			}
		})
	}
	t.Logf("%d fixture models checked", len(fixtures))
}
