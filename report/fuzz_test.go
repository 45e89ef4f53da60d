package report

import (
	"testing"

	"amq/quant"
)

// FuzzReadReport feeds arbitrary bytes to the report reader: it must
// refuse them with an error or give a report whose checked form renders
// to Markdown without panicking (the plots are left out: they are slow and
// draw from the same checked values).
func FuzzReadReport(f *testing.F) {
	rep := &quant.QuantizeReport{Layers: []quant.LayerReport{
		{Name: "/a/Gemm", Type: "Gemm", SQNR: 30, ScaleD: 0.01, ScaleW: []float32{0.02}},
		{Name: "/b/Conv", Type: "Conv", SQNR: 20, ScaleD: 0.02, ScaleW: []float32{0.01, 0.03}},
	}, OutputNames: []string{"y"}, Outputs: map[string]float64{"y": 25}}
	seed, err := EncodeJSON(New(rep, "m", Run{Command: []string{"amq", "quantize"}}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"name":"m","layers":[{"name":"x","sqnr_db":"+Inf"}]}`))
	f.Add([]byte(`{"name":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeJSON(b)
		if err != nil {
			return
		}
		if r.check() != nil {
			return
		}
		markdown(r, plan(r))
	})
}
