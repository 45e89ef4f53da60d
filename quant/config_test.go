package quant

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"amq/internal/testfixture"
)

const exampleCfg = `
batch_num : 2
activation_offset : true
common_config : {
    ifmr_quantize : { search_range_start : 0.7 search_range_end : 1.3 search_step : 0.01
                      max_percentile : 0.999999 min_percentile : 0.999999 }
    dmq_balancer : { migration_strength : 0.5 }
}
override_layer_configs : { layer_name : "/fc2/Gemm"
    calibration_config : { hfmg_quantize : { num_of_bins : 2048 } } }
override_layer_types : { layer_type : "Conv"
    calibration_config : { arq_quantize : { channel_wise : false } dmq_balancer : { migration_strength : 0.4 } } }
`

func TestCreateQuantConfigResolvesLayersAndRoundTrips(t *testing.T) {
	t.Parallel()
	m := testfixture.Named(t, "cnn/model_op13").Load(t)
	layers, _, err := FindLayers(m.Clone(), FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var convs, gemms []string
	for _, l := range layers {
		if l.Type == "Conv" {
			convs = append(convs, l.Name)
		} else {
			gemms = append(gemms, l.Name)
		}
	}
	if len(convs) != 3 || len(gemms) != 2 {
		t.Fatalf("cnn fixture: convs %v gemms %v", convs, gemms)
	}
	cfgText := strings.Replace(exampleCfg, "/fc2/Gemm", gemms[1], 1)
	simple, err := ParseSimpleConfig([]byte(cfgText), "example.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg, excl, err := CreateQuantConfig(m, simple, []string{convs[0]}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BatchNum != 2 || !cfg.ActivationOffset || !cfg.DoFusion || len(cfg.Layers) != 5 {
		t.Fatalf("globals %+v", cfg)
	}
	if len(excl) != 1 || excl[0].Layer != convs[0] || excl[0].Rule != "skip_layers in config" {
		t.Errorf("exclusions %v", excl)
	}
	ifmr := ActParams{NumBits: 8, Algo: "ifmr", MaxPercentile: 0.999999, MinPercentile: 0.999999,
		SearchRange: [2]float64{0.7, 1.3}, SearchStep: 0.01, Asymmetric: true}
	want := map[string]*LayerConfig{
		convs[0]: {QuantEnable: false, DMQ: &DMQParams{0.4}, Act: ifmr, Weight: WeightParams{8, "arq_quantize", false}},
		convs[1]: {QuantEnable: true, DMQ: &DMQParams{0.4}, Act: ifmr, Weight: WeightParams{8, "arq_quantize", false}},
		gemms[0]: {QuantEnable: true, DMQ: &DMQParams{0.5}, Act: ifmr, Weight: WeightParams{8, "arq_quantize", false}},
		gemms[1]: {QuantEnable: true, Act: ActParams{NumBits: 8, Algo: "hfmg", NumOfBins: 2048, Asymmetric: true},
			Weight: WeightParams{8, "arq_quantize", false}},
	}
	for name, w := range want {
		if got := cfg.Layers[name]; !reflect.DeepEqual(got, w) {
			t.Errorf("layer %s:\n got %+v %+v\nwant %+v %+v", name, got, got.DMQ, w, w.DMQ)
		}
	}

	// JSON round trip, deterministic.
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := WriteConfig(p, cfg); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p)
	back, err := ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip differs:\n%+v\n%+v", back, cfg)
	}
	b2, _ := back.Marshal()
	if string(b1) != string(b2) {
		t.Error("JSON output is not deterministic")
	}
	for _, key := range []string{`"version": 1`, `"search_range": [`, `"act_algo": "hfmg"`, `"num_of_bins": 2048`, `"dmq_balancer_param": 0.4`, `"max_percentile": 0.999999,`} {
		if !strings.Contains(string(b1), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b1)
		}
	}
	if i, j := strings.Index(string(b1), `"skip_fusion_layers"`), strings.Index(string(b1), convs[0]); i < 0 || j < i {
		t.Error("global keys must come before the layers")
	}
}

func TestCreateQuantConfigDefaultsWithoutSimpleConfig(t *testing.T) {
	t.Parallel()
	m := testfixture.Named(t, "conv3d/model_op13").Load(t)
	cfg, _, err := CreateQuantConfig(m, nil, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BatchNum != 3 {
		t.Errorf("batch_num %d, want the argument 3", cfg.BatchNum)
	}
	for name, lc := range cfg.Layers {
		n := m.Graph.Node(name)
		if lc.Act.Algo != "ifmr" || lc.Act.SearchStep != 0.01 || lc.DMQ != nil || !lc.QuantEnable {
			t.Errorf("%s: %+v", name, lc)
		}
		conv := n.OpType == "Conv"
		if lc.Weight.ChannelWise != conv {
			t.Errorf("%s (%s): channel_wise %v", name, n.OpType, lc.Weight.ChannelWise)
		}
		// Conv3d activations are symmetric; the Gemm follows activation_offset.
		if lc.Act.Asymmetric == conv {
			t.Errorf("%s (%s): asymmetric %v", name, n.OpType, lc.Act.Asymmetric)
		}
	}
}

func TestParseSimpleConfigErrorsSayWhere(t *testing.T) {
	t.Parallel()
	m := testfixture.Named(t, "mlp/model_op13").Load(t)
	var gemm string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Gemm" {
			gemm = n.Name
			break
		}
	}
	cases := []struct{ cfg, want string }{
		{"batch_num: 2\nfoo: 1", "2:1"}, // unknown field: line and column
		{`common_config { dmq_balancer { migration_strength: 0.9 } }`, "migration_strength: 0.9"},
		{`common_config { hfmg_quantize { num_of_bins: 1000 } }`, "num_of_bins: 1000"},
		{`common_config { ifmr_quantize { search_range_start: 1.3 search_range_end: 0.7 } }`, "search_range_start"},
		{`common_config { ifmr_quantize { search_step: 0 } }`, "search_step"},
		{`common_config { ifmr_quantize { max_percentile: 0.5 } }`, "max_percentile"},
		{`common_config { arq_quantize { quant_bits: 4 } }`, "quant_bits: 4"},
		{`override_layer_types { layer_type: "Gemm" calibration_config { arq_quantize { channel_wise: true } } }`, `channel_wise: can only be false for Gemm`},
		{`override_layer_types { layer_type: "Relu" calibration_config { } }`, `unsupported layer type`},
		{`common_config { arq_quantize { channel_wise: true } }`, "layer \"" + gemm + "\" (Gemm, from common_config): arq_quantize.channel_wise"},
		{`override_layer_configs { layer_name: "` + gemm + `" calibration_config { arq_quantize { channel_wise: true } } }`, gemm},
		{`override_layer_configs { layer_name: "nope" calibration_config { } }`, `override_layer_configs: the model has no layer "nope"`},
		{`skip_layers: "nope"`, `skip_layers: the model has no layer "nope"`},
		{`skip_layer_types: "Relu"`, `skip_layer_types: "Relu"`},
	}
	for _, c := range cases {
		simple, err := ParseSimpleConfig([]byte(c.cfg), "bad.cfg")
		if err == nil {
			_, _, err = CreateQuantConfig(m, simple, nil, 0)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to contain %q", c.cfg, err, c.want)
		}
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	good := `{"version": 1, "batch_num": 1, "activation_offset": true, "do_fusion": true, "skip_fusion_layers": [],
	"L": {"quant_enable": true, "activation_quant_params": {"num_bits": 8, "act_algo": "hfmg", "num_of_bins": 4096, "asymmetric": true},
	"weight_quant_params": {"num_bits": 8, "wts_algo": "arq_quantize", "channel_wise": false}}}`
	if _, err := ParseConfig([]byte(good)); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ old, new, want string }{
		{`"batch_num": 1,`, ``, `key "batch_num": missing`},
		{`"version": 1`, `"version": 2`, `"version": 2`},
		{`"num_of_bins": 4096`, `"num_of_bins": 100`, `layer "L": activation_quant_params key "num_of_bins": 100`},
		{`"channel_wise": false`, `"channel_wise": false, "extra": 1`, `layer "L": json: unknown field "extra"`},
		{`"act_algo": "hfmg"`, `"act_algo": "max"`, `"act_algo": "max"`},
		{`"wts_algo": "arq_quantize"`, `"wts_algo": "nuq"`, `"wts_algo": "nuq"`},
		{`"quant_enable": true,`, ``, `layer "L": key "quant_enable": missing`},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(strings.Replace(good, c.old, c.new, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: err = %v, want %q", c.old, c.new, err, c.want)
		}
	}
}

// TestConfigAlphaSearchRoundTrips: amq's "amq_alpha_search" key is written
// under the layer next to AMCT's keys, in place of dmq_balancer_param, and
// reads back equal; a config without it is written as before.
func TestConfigAlphaSearchRoundTrips(t *testing.T) {
	t.Parallel()
	m := testfixture.Named(t, "cnn/model_op13").Load(t)
	plain, _, err := CreateQuantConfig(m, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	before, err := plain.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(before), "amq_") {
		t.Errorf("a config without alpha search has an amq key:\n%s", before)
	}
	cfg := cloneConfig(plain)
	names := cfg.LayerNames()
	cfg.Layers[names[0]].QuantEnable = false
	cfg.Layers[names[1]].DMQ = &DMQParams{MigrationStrength: 0.5}
	if err := cfg.UseAlphaSearch(DefaultAlphaSearch()); err != nil {
		t.Fatal(err)
	}
	if cfg.Layers[names[0]].AlphaSearch != nil {
		t.Errorf("disabled layer %s got an alpha search", names[0])
	}
	if lc := cfg.Layers[names[1]]; lc.AlphaSearch == nil || lc.DMQ != nil {
		t.Errorf("layer %s: alpha search %v, dmq %v; want the search in place of dmq", names[1], lc.AlphaSearch, lc.DMQ)
	}
	cfg.Layers[names[2]].AlphaSearch = &AlphaSearch{Grid: []float64{0.3, 1}, IncludeNone: false}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `"amq_alpha_search": {
            "grid": [
                0,
                0.05,
                0.1,
                0.15,`
	if !strings.Contains(string(b), want) || !strings.Contains(string(b), `"include_none": true`) ||
		!strings.Contains(string(b), `"include_none": false`) || strings.Contains(string(b), "dmq_balancer_param") {
		t.Errorf("JSON lacks the search or keeps dmq_balancer_param:\n%s", b)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip differs:\n%+v\n%+v", back.Layers[names[2]].AlphaSearch, cfg.Layers[names[2]].AlphaSearch)
	}
	if g := back.Layers[names[1]].AlphaSearch.Grid; len(g) != 20 || g[19] != 0.95 || g[3] != 0.15 {
		t.Errorf("default grid read back as %v", g)
	}
}

// TestConfigRejectsBadAlphaSearch: an empty grid, a strength outside
// [0, 1], a missing key or a search next to a fixed strength are errors
// naming the layer and the key.
func TestConfigRejectsBadAlphaSearch(t *testing.T) {
	t.Parallel()
	good := `{"version": 1, "batch_num": 1, "activation_offset": true, "do_fusion": true, "skip_fusion_layers": [],
	"L": {"quant_enable": true, "amq_alpha_search": {"grid": [0, 0.5, 1], "include_none": true},
	"activation_quant_params": {"num_bits": 8, "act_algo": "hfmg", "num_of_bins": 4096, "asymmetric": true},
	"weight_quant_params": {"num_bits": 8, "wts_algo": "arq_quantize", "channel_wise": false}}}`
	if _, err := ParseConfig([]byte(good)); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ old, new, want string }{
		{`[0, 0.5, 1]`, `[]`, `layer "L": key "amq_alpha_search": "grid" is empty`},
		{`[0, 0.5, 1]`, `[0, 1.5]`, `layer "L": key "amq_alpha_search": grid[1] = 1.5 is outside [0, 1]`},
		{`[0, 0.5, 1]`, `[-0.1]`, `grid[0] = -0.1 is outside [0, 1]`},
		{`"grid": [0, 0.5, 1], `, ``, `layer "L": key "grid": missing in amq_alpha_search`},
		{`, "include_none": true`, ``, `layer "L": key "include_none": missing in amq_alpha_search`},
		{`"include_none": true`, `"include_none": true, "steps": 3`, `layer "L": json: unknown field "steps"`},
		{`"quant_enable": true,`, `"quant_enable": true, "dmq_balancer_param": 0.5,`, `layer "L": keys "dmq_balancer_param" and "amq_alpha_search"`},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(strings.Replace(good, c.old, c.new, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: err = %v, want %q", c.old, c.new, err, c.want)
		}
	}
	cfg := &Config{Layers: map[string]*LayerConfig{}}
	for _, s := range []*AlphaSearch{{}, {Grid: []float64{math.NaN()}}, {Grid: []float64{2}}} {
		if err := cfg.UseAlphaSearch(s); err == nil || !strings.Contains(err.Error(), "amq_alpha_search") {
			t.Errorf("UseAlphaSearch(%v): err = %v, want one naming amq_alpha_search", s, err)
		}
	}
}
