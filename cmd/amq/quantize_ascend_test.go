package main

import (
	"math"
	"path/filepath"
	"testing"

	"amq/internal/testfixture"
	"amq/quant"
)

// TestQuantizeAscendEqualsSim runs the whole flow (DMQ preprocessing and
// calibration) on the Ascend backend — Go, cgo, the C shim and the fake
// libascendcl with its ATC — and on sim: the records must agree, and a run
// sharded over two devices must equal the one-device run exactly.
func TestQuantizeAscendEqualsSim(t *testing.T) {
	requireAscendFake(t)
	for _, fx := range []struct{ name, model string }{
		{"cnn", "model_op13.onnx"},
		{"transformer", "model_op17.onnx"},
	} {
		t.Run(fx.name, func(t *testing.T) {
			run := func(backend ...string) quant.Record {
				t.Helper()
				prefix := filepath.Join(t.TempDir(), "m")
				args := append([]string{"quantize",
					"--model", testfixture.Path(t, "quant", fx.name, fx.model),
					"--data", testfixture.Path(t, "quant", fx.name, "calib.npy"),
					"--config", testfixture.Path(t, "quant", "dmq.cfg"),
					"--batch-size", "16", "--batch-num", "4", "--no-eval",
					"--out", prefix}, backend...)
				if out, err := amq(t, args...); err != nil {
					t.Fatalf("amq %v: %v\n%s", backend, err, out.Stderr)
				}
				rec, err := quant.ReadRecord(prefix + "_record.txt")
				if err != nil {
					t.Fatal(err)
				}
				return rec
			}
			onSim := run("--backend", "sim")
			one := run("--backend", "ascend", "--device", "0")
			two := run("--backend", "ascend", "--devices", "0,1")
			compareRecords(t, "ascend vs sim", onSim, one, 1e-6)
			compareRecords(t, "2 devices vs 1", one, two, 0)
		})
	}
}

// compareRecords checks that every scale and factor of got is within rel
// (relative) of want, and offsets are equal.
func compareRecords(t *testing.T, what string, want, got quant.Record, rel float64) {
	t.Helper()
	if len(want) != len(got) || len(want) == 0 {
		t.Fatalf("%s: %d layers vs %d", what, len(got), len(want))
	}
	close := func(a, b float32) bool {
		return math.Abs(float64(a)-float64(b)) <= rel*math.Abs(float64(b))
	}
	worst := 0.0
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("%s: layer %q missing", what, name)
			continue
		}
		if !close(g.ScaleD, w.ScaleD) || g.OffsetD != w.OffsetD {
			t.Errorf("%s: layer %q: scale_d %v offset_d %d, want %v %d", what, name, g.ScaleD, g.OffsetD, w.ScaleD, w.OffsetD)
		}
		pairs := [][2][]float32{{g.ScaleW, w.ScaleW}, {g.BalanceFactor, w.BalanceFactor}}
		for _, p := range pairs {
			if len(p[0]) != len(p[1]) {
				t.Errorf("%s: layer %q: %d values, want %d", what, name, len(p[0]), len(p[1]))
				continue
			}
			for i := range p[0] {
				if !close(p[0][i], p[1][i]) {
					t.Errorf("%s: layer %q value %d: %v, want %v", what, name, i, p[0][i], p[1][i])
				}
				if p[1][i] != 0 {
					worst = max(worst, math.Abs(float64(p[0][i]/p[1][i])-1))
				}
			}
		}
	}
	t.Logf("%s: %d layers, worst relative difference %.3g", what, len(want), worst)
}
