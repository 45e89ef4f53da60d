package bench

import (
	"fmt"
	"os"
	"strconv"

	"amq/onnx"
)

// FLOPs counts the floating-point operations of one run of m on inputs of
// the given shapes: two per multiply-add of its Conv, Gemm and MatMul
// nodes, which carry nearly all the work of the benchmark models (the
// elementwise operators, pooling and normalizations are left out, so the
// count is a little low, as the usual GFLOP figures of these networks are).
func FLOPs(m *onnx.Model, inputs map[string][]int) (float64, error) {
	shapes, err := onnx.InferShapes(m.Graph, inputs)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, n := range m.Graph.Nodes {
		if len(n.Inputs) < 2 || len(n.Outputs) == 0 {
			continue
		}
		out, a, w := shapes[n.Outputs[0]], shapes[n.Inputs[0]], shapes[n.Inputs[1]]
		switch n.OpType {
		case "Conv":
			// Every output element sums C/group * kernel taps products.
			total += 2 * float64(onnx.NumElems(out)) * float64(onnx.NumElems(w[1:]))
		case "Gemm", "MatMul":
			// k is the shared dimension: A's last.
			total += 2 * float64(onnx.NumElems(out)) * float64(a[len(a)-1])
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("model %q has no Conv, Gemm or MatMul", m.Graph.Name)
	}
	return total, nil
}

// peakGFLOPS is the machine's float32 peak per core in GFLOP/s, from
// $AMQ_PEAK_GFLOPS (for example 2 FMA units x 16 lanes x 2 x 3.0 GHz =
// 192 for a 3 GHz AVX-512 core), or 0 when unset.
func peakGFLOPS() float64 {
	v, err := strconv.ParseFloat(os.Getenv("AMQ_PEAK_GFLOPS"), 64)
	if err != nil || v <= 0 {
		return 0
	}
	return v
}
