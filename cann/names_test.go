package cann

import (
	"reflect"
	"strings"
	"testing"
)

// outs as Prepare requests them for the test model: --out_nodes=mm:0;quant:0;add:0.
var testOuts = []OutNode{{Tensor: "h", Node: "mm", Index: 0}, {Tensor: "q", Node: "quant", Index: 0}, {Tensor: "y", Node: "add", Index: 0}}

func TestOutputsAreMatchedByEveryATCNamingInAnyOrder(t *testing.T) {
	for _, c := range []struct {
		naming string
		names  []string
	}{
		{"node:index", []string{"add:0", "mm:0", "quant:0"}},
		{"node:index:tensor", []string{"add:0:y", "mm:0:h", "quant:0:q"}},
		{"output_<pos>_<node>_<index>", []string{"output_0_add_0", "output_1_mm_0", "output_2_quant_0"}},
		{"tensor", []string{"y", "h", "q"}},
	} {
		got, err := mapOutputs(c.names, testOuts)
		if err != nil {
			t.Errorf("%s: %v", c.naming, err)
			continue
		}
		if want := []int{2, 0, 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v maps to %v, want %v", c.naming, c.names, got, want)
		}
	}
}

func TestPositionalNameCountsTheModelsPosition(t *testing.T) {
	// "output_1_mm_0" at position 0 is not mm:0 under the positional rule.
	_, err := mapOutputs([]string{"output_1_mm_0", "output_1_quant_0", "output_2_add_0"}, testOuts)
	if err == nil || !strings.Contains(err.Error(), `no output for tensor "h" (--out_nodes mm:0)`) {
		t.Fatalf("want tensor h missing, got %v", err)
	}
}

func TestMissingOutputNamesTheTensorAndTheUnknownNames(t *testing.T) {
	// As when ATC expands a node into a subgraph and reports the output of
	// the subgraph's node instead.
	_, err := mapOutputs([]string{"add:0", "quant:0", "mm/expanded:0"}, testOuts)
	if err == nil {
		t.Fatal("no error for a missing output")
	}
	for _, want := range []string{`no output for tensor "h"`, "--out_nodes mm:0", `"mm/expanded:0"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestUnrequestedOutputIsAnError(t *testing.T) {
	_, err := mapOutputs([]string{"add:0", "quant:0", "mm:0", "relu:0"}, testOuts)
	if err == nil || !strings.Contains(err.Error(), `"relu:0" match no requested tensor`) {
		t.Fatalf("want relu:0 reported, got %v", err)
	}
}

func TestOutputMatchedTwiceIsAnError(t *testing.T) {
	_, err := mapOutputs([]string{"add:0", "y", "mm:0"}, testOuts)
	if err == nil || !strings.Contains(err.Error(), `"add:0" and "y" are both tensor "y"`) {
		t.Fatalf("want duplicate reported, got %v", err)
	}
}

func TestNameMatchingTwoRequestsIsAnError(t *testing.T) {
	// A tensor named like another node's output ("mm:0", as exporters
	// from TensorFlow name tensors) makes "mm:0" ambiguous.
	outs := []OutNode{{Tensor: "mm:0", Node: "other", Index: 0}, {Tensor: "h", Node: "mm", Index: 0}}
	_, err := mapOutputs([]string{"mm:0", "other:0"}, outs)
	if err == nil || !strings.Contains(err.Error(), `"mm:0" matches both "mm:0" and "h"`) {
		t.Fatalf("want ambiguity reported, got %v", err)
	}
}

func TestInputsAreMatchedByName(t *testing.T) {
	got, err := mapInputs([]string{"b", "a"}, []string{"a", "b"})
	if err != nil || !reflect.DeepEqual(got, []int{1, 0}) {
		t.Fatalf("got %v, %v; want [1 0]", got, err)
	}
	if _, err := mapInputs([]string{"a"}, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), `no input "b"`) {
		t.Errorf("missing input: %v", err)
	}
	if _, err := mapInputs([]string{"a", "c"}, []string{"a"}); err == nil || !strings.Contains(err.Error(), `input 1 "c" is not an input of the ONNX model (its inputs: "a")`) {
		t.Errorf("unknown input: %v", err)
	}
	if _, err := mapInputs([]string{"a", "a"}, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), `input "a" twice`) {
		t.Errorf("duplicate input: %v", err)
	}
}

func TestMapIONamesTheModelFile(t *testing.T) {
	_, err := mapIO("/cache/abc.om", []string{"x"}, []string{"x"}, []string{"add:0"}, testOuts)
	if err == nil || !strings.HasPrefix(err.Error(), "/cache/abc.om: ") {
		t.Fatalf("want the .om named, got %v", err)
	}
}
