package quant

import (
	"fmt"
	"path/filepath"
	"testing"

	"amq/onnx"
)

// chainModel is a chain of n MatMul layers (4×4 weights), each followed by
// a Relu: 2n nodes, for measuring how Save's cost grows with a model's size.
func chainModel(n int) (*onnx.Model, Record) {
	b := newBuilder(1)
	x := b.input("x", 1, 4)
	rec := Record{}
	for i := range n {
		name := fmt.Sprintf("mm%d", i)
		x = b.node("MatMul", name, nil, x, b.init(name+".w", 0.5, 0, 4, 4))
		x = b.node("Relu", fmt.Sprintf("relu%d", i), nil, x)
		rec[name] = &LayerRecord{ScaleD: 0.01, OffsetD: -3, ScaleW: []float32{0.004}, OffsetW: []int32{0}, HasQuant: true}
	}
	return b.model(x), rec
}

// BenchmarkSave saves chains of growing length: the time per layer should
// stay about the same (it grew with the model's size while every inserted
// node re-indexed the whole graph).
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{250, 500, 1000, 2000} {
		b.Run(fmt.Sprintf("layers=%d", n), func(b *testing.B) {
			m, rec := chainModel(n)
			layers, _, err := FindLayers(m, FindOptions{})
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Save(m, layers, nil, rec, filepath.Join(dir, fmt.Sprint(i)), SaveOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/layer")
		})
	}
}
