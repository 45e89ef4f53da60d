package quant

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// amctName maps an ONNX node name of a torch.onnx export to the PyTorch
// module name AMCT uses as the key: "/blocks/blocks.0/attn/q/MatMul" ->
// "blocks.0.attn.q", "/conv1/Conv" -> "conv1". The scopes of the node name
// are the module path; a scope that extends its parent's name with ".<k>"
// (a Sequential child) replaces it.
func amctName(node string) string {
	parts := strings.Split(strings.Trim(node, "/"), "/")
	name := ""
	for _, p := range parts[:len(parts)-1] {
		switch {
		case name == "":
			name = p
		case strings.HasPrefix(p, name+"."):
			name = p
		default:
			name += "." + p
		}
	}
	return name
}

func TestAMCTNameIsTheTorchModulePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/blocks/blocks.0/attn/q/MatMul": "blocks.0.attn.q",
		"/blocks/blocks.1/fc2/MatMul":    "blocks.1.fc2",
		"/conv1/Conv":                    "conv1",
		"/dec1/ConvTranspose":            "dec1",
		"/head/Gemm":                     "head",
	} {
		if got := amctName(in); got != want {
			t.Errorf("amctName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunFlowMatchesAMCTOutputs runs amq's flow on each fixture with the .cfg files
// AMCT was run with (same calibration batch) and compares, layer for layer,
// the record (balance factors and weight scales to 1e-4 relative; scale_d
// within 0.1% and offset_d equal for IFMR, within 3% and 2 for HFMG) and
// the per-layer settings of the JSON config with AMCT's outputs in
// testdata/quant/<fixture>/amct. The variants: dmq (IFMR with DMQ
// balance), nodmq (IFMR alone) and hfmg (HFMG with 4096 bins and DMQ
// balance). The layers whose activation takes few values must be
// calibrated on exact counts (docs/design.md "Exact statistics"): the
// input layers, which read the digits' pixels (17 levels, divided by up to
// 8 balance factors), and the classifier heads, which read at most 2048
// values in all (64 samples of 32 features).
func TestRunFlowMatchesAMCTOutputs(t *testing.T) {
	t.Parallel()
	exact := map[string][]string{
		"cnn":         {"conv1", "fc"},
		"transformer": {"embed", "head"},
		"deconv":      {"enc1"},
		"conv3d":      {"conv1", "fc"},
	}
	for _, fixture := range []string{"cnn", "transformer", "deconv", "conv3d"} {
		for _, cfg := range []string{"dmq", "nodmq", "hfmg"} {
			t.Run(fixture+"/"+cfg, func(t *testing.T) {
				dir := filepath.Join(quantFixtures, fixture, "amct", cfg)
				want, err := ReadRecord(filepath.Join(dir, "record.txt"))
				if err != nil {
					t.Fatal(err)
				}
				r := runFixture(t, fixture, "model_op13.onnx", cfg+".cfg")
				tol := ifmrTolerance
				if cfg == "hfmg" {
					tol = hfmgTolerance
				}
				compareAMCTRecord(t, r.rep, want, cfg != "nodmq", tol)
				compareAMCTConfig(t, r.rep.ConfigPath, filepath.Join(dir, "config.json"))
				var counted, values []string
				for _, l := range r.rep.Layers {
					if h := l.Histogram; h != nil && h.Distinct > 0 {
						counted = append(counted, amctName(l.Name))
						values = append(values, fmt.Sprintf("%s %d values", amctName(l.Name), h.Distinct))
					}
				}
				sort.Strings(counted)
				if !reflect.DeepEqual(counted, exact[fixture]) {
					t.Errorf("layers calibrated on exact counts: %v, want %v", counted, exact[fixture])
				}
				t.Logf("exact counts: %s", strings.Join(values, ", "))
			})
		}
	}
}

// amctTolerance is how far amq's record may be from AMCT's: scale_d
// relatively, offset_d in int8 steps.
type amctTolerance struct {
	scaleD  float64
	offsetD int32
}

// The tolerances for IFMR and for HFMG records. One HFMG layer, the
// transformer's embed, is 1.9% off: docs/design.md "AMCT compatibility".
var (
	ifmrTolerance = amctTolerance{scaleD: 0.001, offsetD: 0}
	hfmgTolerance = amctTolerance{scaleD: 0.03, offsetD: 2}
)

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b))
}

func compareAMCTRecord(t *testing.T, rep *QuantizeReport, want Record, dmq bool, tol amctTolerance) {
	t.Helper()
	got := Record{}
	for name, r := range rep.Record {
		got[amctName(name)] = r
	}
	if g, w := sortedKeys(got), sortedKeys(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("layers: amq %v, AMCT %v", g, w)
	}
	var worstF, worstW, worstD float64
	var worstO int32
	for _, name := range sortedKeys(want) {
		g, w := got[name], want[name]
		if dmq != (len(w.BalanceFactor) > 0) {
			t.Fatalf("layer %s: AMCT has %d balance factors with dmq=%v", name, len(w.BalanceFactor), dmq)
		}
		if len(g.BalanceFactor) != len(w.BalanceFactor) {
			t.Errorf("layer %s: tensor_balance_factor: amq %d values, AMCT %d", name, len(g.BalanceFactor), len(w.BalanceFactor))
		} else {
			for j := range w.BalanceFactor {
				d := relDiff(float64(g.BalanceFactor[j]), float64(w.BalanceFactor[j]))
				worstF = max(worstF, d)
				if d > 1e-4 {
					t.Errorf("layer %s: tensor_balance_factor[%d]: amq %v, AMCT %v", name, j, g.BalanceFactor[j], w.BalanceFactor[j])
				}
			}
		}
		if len(g.ScaleW) != len(w.ScaleW) {
			t.Errorf("layer %s: scale_w: amq %d values, AMCT %d", name, len(g.ScaleW), len(w.ScaleW))
		} else {
			for c := range w.ScaleW {
				d := relDiff(float64(g.ScaleW[c]), float64(w.ScaleW[c]))
				worstW = max(worstW, d)
				if d > 1e-4 {
					t.Errorf("layer %s: scale_w[%d]: amq %v, AMCT %v", name, c, g.ScaleW[c], w.ScaleW[c])
				}
			}
		}
		d := relDiff(float64(g.ScaleD), float64(w.ScaleD))
		worstD = max(worstD, d)
		if d > tol.scaleD {
			t.Errorf("layer %s: scale_d: amq %v, AMCT %v (%.3g%% apart)", name, g.ScaleD, w.ScaleD, 100*d)
		}
		o := g.OffsetD - w.OffsetD
		worstO = max(worstO, o, -o)
		if o > tol.offsetD || o < -tol.offsetD {
			t.Errorf("layer %s: offset_d: amq %d, AMCT %d", name, g.OffsetD, w.OffsetD)
		}
		for c, v := range g.OffsetW {
			if v != 0 {
				t.Errorf("layer %s: offset_w[%d] = %d", name, c, v)
			}
		}
	}
	t.Logf("%d layers: worst relative difference to AMCT: balance factors %.3g, scale_w %.3g, scale_d %.3g; worst offset_d difference %d",
		len(want), worstF, worstW, worstD, worstO)
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// compareAMCTConfig parses both JSON configs generically (not with the
// package's reader) and compares the global keys and every layer's object.
func compareAMCTConfig(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	read := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	got, want := read(gotPath), read(wantPath)
	globals := []string{"version", "batch_num", "activation_offset", "do_fusion", "skip_fusion_layers"}
	for _, k := range globals {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("config key %q: amq %v, AMCT %v", k, got[k], want[k])
		}
		delete(got, k)
		delete(want, k)
	}
	mapped := map[string]any{}
	for name, v := range got {
		mapped[amctName(name)] = v
	}
	if g, w := sortedKeys(mapped), sortedKeys(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("config layers: amq %v, AMCT %v", g, w)
	}
	for name, w := range want {
		if g := mapped[name]; !reflect.DeepEqual(g, w) {
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			t.Errorf("config layer %s:\namq  %s\nAMCT %s", name, gb, wb)
		}
	}
	if !t.Failed() {
		t.Logf("config: %d layers, every setting equal to AMCT's", len(want))
	}
}
