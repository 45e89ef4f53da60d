package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"amq/onnx"
)

// TestOpsMatchPyTorch compares Conv, ConvTranspose, pooling, MatMul and
// Gemm with outputs PyTorch computed for the same inputs
// (testdata/make_heavy_torch.py wrote them).
func TestOpsMatchPyTorch(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/heavy_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	type jt struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	var file struct {
		Cases []struct {
			Name    string         `json:"name"`
			Op      string         `json:"op"`
			Attrs   map[string]any `json:"attrs"`
			Inputs  []*jt          `json:"inputs"`
			Outputs []*jt          `json:"outputs"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 20 {
		t.Fatalf("only %d cases in the fixture", len(file.Cases))
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			attrs := map[string]any{}
			for k, v := range tc.Attrs {
				switch v := v.(type) {
				case float64:
					if k == "alpha" || k == "beta" {
						attrs[k] = float32(v)
					} else {
						attrs[k] = int64(v)
					}
				case []any:
					var iv []int64
					for _, x := range v {
						iv = append(iv, int64(x.(float64)))
					}
					attrs[k] = iv
				}
			}
			var in []*onnx.Tensor
			var names []string
			for i, x := range tc.Inputs {
				if x == nil {
					continue
				}
				f := make([]float32, len(x.Data))
				for j, v := range x.Data {
					f[j] = float32(v)
				}
				in = append(in, onnx.NewTensor(x.Shape, f))
				names = append(names, fmt.Sprintf("in%d", i))
			}
			n := node(tc.Op, attrs, names...)
			if len(tc.Outputs) == 2 {
				n.Outputs = []string{"y", "indices"}
			}
			out, err := runOp(t, 13, n, nil, in...)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.Outputs {
				if fmt.Sprint(out[k].Shape) != fmt.Sprint(want.Shape) {
					t.Fatalf("output %d: shape %v, PyTorch %v", k, out[k].Shape, want.Shape)
				}
				if idx, ok := out[k].Data.([]int64); ok {
					for j, v := range idx {
						if float64(v) != want.Data[j] {
							t.Fatalf("indices[%d] = %d, PyTorch %g", j, v, want.Data[j])
						}
					}
					continue
				}
				if i := closeTo(out[k].Floats(), want.Data, 1e-4, 1e-5); i >= 0 {
					t.Fatalf("output %d: y[%d] = %g, PyTorch %g", k, i, out[k].Floats()[i], want.Data[i])
				}
			}
		})
	}
}
