package report

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"amq/backend"
	"amq/quant"
)

// TestBoardSectionRoundTripsAndRenders makes a report from a
// QuantizeReport with a board check, reads its JSON back equal, and
// remakes the Markdown from the JSON: the board's SQNR and the overflowing
// tensors before the balance are listed, and the deploy model's "none" is
// said with its peak. A report without a check has no board section.
func TestBoardSectionRoundTripsAndRenders(t *testing.T) {
	t.Parallel()
	rep := &quant.QuantizeReport{
		OutputNames: []string{"y"}, Outputs: map[string]float64{"y": 40},
		Layers: []quant.LayerReport{{Name: "fc", Type: "MatMul", SQNR: 42, ScaleW: []float32{0.1}}},
		Board: &quant.BoardReport{
			Precision: backend.ForceFP16,
			Outputs:   map[string]float64{"y": 9.8}, FloatOutputs: map[string]float64{"y": math.Inf(1)},
			Layers:    map[string]float64{"fc": 9.5},
			Before:    []backend.FP16Stat{{Node: "ln/Mul", OpType: "Mul", Tensor: "x", Elements: 64, Overflow: 3, MaxAbs: 2.1e5}},
			PeakAfter: backend.FP16Stat{Node: "ln/Add", OpType: "Add", Tensor: "xs", Elements: 64, MaxAbs: 310},
		},
	}
	r := New(rep, "m", Run{Command: []string{"amq"}})
	path, _ := writeReportJSON(t, r, t.TempDir())
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Board, r.Board) || back.Board.PeakAfter == nil || len(back.Board.After) != 0 {
		t.Fatalf("board read back %+v, written %+v", back.Board, r.Board)
	}
	md := regenerateMarkdown(t, path)
	for _, want := range []string{
		"## On the NPU in force_fp16",
		"| `y` | 9.8 | exact |",
		"| `fc` | 9.5 |",
		"float model, before the balance and quantization: 1 tensor(s) overflow float16",
		"| `ln/Mul` | Mul | `x` | 64 | 3 | 0 | 2.1e+05 |",
		"deploy model, after the balance and quantization: no tensor overflows float16 or flushes to zero in bulk; the largest |x| is 310 (`xs` of `ln/Add`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	rep.Board = nil
	if js, _ := EncodeJSON(New(rep, "m", Run{})); strings.Contains(string(js), "board") {
		t.Errorf("a report without a board check has a board section:\n%s", js)
	}
}
