package quant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/prototext"

	"amq/internal/atomicfile"
	"amq/onnx"
	"amq/quant/configpb"
)

// ConfigVersion is the version key of the JSON quant config.
const ConfigVersion = 1

// Defaults of the simplified config (docs/design.md "Simplified config").
const (
	DefaultMigrationStrength = 0.5
	DefaultNumOfBins         = 4096
	DefaultSearchStart       = 0.7
	DefaultSearchEnd         = 1.3
	DefaultSearchStep        = 0.01
	DefaultPercentile        = 0.999999
)

// LoadSimpleConfig reads a simplified config (.cfg, protobuf text format).
func LoadSimpleConfig(path string) (*configpb.AMCTConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSimpleConfig(b, path)
}

// ParseSimpleConfig parses and validates a simplified config; name labels
// errors (usually the file name). Unknown fields and syntax errors come back
// with their line and column.
func ParseSimpleConfig(data []byte, name string) (*configpb.AMCTConfig, error) {
	c := &configpb.AMCTConfig{}
	if err := prototext.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := validateSimple(c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// validateSimple checks the values that do not depend on the model.
func validateSimple(c *configpb.AMCTConfig) error {
	if c.BatchNum != nil && c.GetBatchNum() == 0 {
		return fmt.Errorf("batch_num: must be at least 1")
	}
	if err := validateCalib(c.GetCommonConfig(), "common_config", ""); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, o := range c.GetOverrideLayerTypes() {
		t := o.GetLayerType()
		where := fmt.Sprintf("override_layer_types[%d] (layer_type %q)", i, t)
		if !quantizable[t] {
			return fmt.Errorf("%s: unsupported layer type (want Conv, ConvTranspose, Gemm or MatMul)", where)
		}
		if seen[t] {
			return fmt.Errorf("%s: layer type given twice", where)
		}
		seen[t] = true
		if err := validateCalib(o.GetCalibrationConfig(), where+".calibration_config", t); err != nil {
			return err
		}
	}
	seen = map[string]bool{}
	for i, o := range c.GetOverrideLayerConfigs() {
		where := fmt.Sprintf("override_layer_configs[%d] (layer_name %q)", i, o.GetLayerName())
		if seen[o.GetLayerName()] {
			return fmt.Errorf("%s: layer given twice", where)
		}
		seen[o.GetLayerName()] = true
		if err := validateCalib(o.GetCalibrationConfig(), where+".calibration_config", ""); err != nil {
			return err
		}
	}
	return nil
}

// validateCalib checks one CalibrationConfig. opType is the layer type the
// config is for, when known, to reject channel_wise on Gemm/MatMul early.
func validateCalib(cc *configpb.CalibrationConfig, where, opType string) error {
	if cc == nil {
		return nil
	}
	if a := cc.GetArqQuantize(); a != nil {
		if a.GetQuantBits() != 8 {
			return fmt.Errorf("%s.arq_quantize.quant_bits: %d, only 8 is supported", where, a.GetQuantBits())
		}
		if a.GetChannelWise() && (opType == "Gemm" || opType == "MatMul") {
			return fmt.Errorf("%s.arq_quantize.channel_wise: can only be false for %s", where, opType)
		}
	}
	if f := cc.GetIfmrQuantize(); f != nil {
		start, end := f.GetSearchRangeStart(), f.GetSearchRangeEnd()
		switch {
		case !(start > 0) || !(end > 0) || !(start < end) || isInf32(end):
			return fmt.Errorf("%s.ifmr_quantize: search_range_start %g and search_range_end %g must satisfy 0 < start < end", where, start, end)
		case !(f.GetSearchStep() > 0) || isInf32(f.GetSearchStep()):
			return fmt.Errorf("%s.ifmr_quantize.search_step: %g, must be > 0", where, f.GetSearchStep())
		case !(f.GetMaxPercentile() > 0.5 && f.GetMaxPercentile() <= 1):
			return fmt.Errorf("%s.ifmr_quantize.max_percentile: %g, must be in (0.5, 1]", where, f.GetMaxPercentile())
		case !(f.GetMinPercentile() > 0.5 && f.GetMinPercentile() <= 1):
			return fmt.Errorf("%s.ifmr_quantize.min_percentile: %g, must be in (0.5, 1]", where, f.GetMinPercentile())
		}
	}
	if h := cc.GetHfmgQuantize(); h != nil {
		switch h.GetNumOfBins() {
		case 1024, 2048, 4096, 8192:
		default:
			return fmt.Errorf("%s.hfmg_quantize.num_of_bins: %d, must be 1024, 2048, 4096 or 8192", where, h.GetNumOfBins())
		}
	}
	if d := cc.GetDmqBalancer(); d != nil {
		if a := d.GetMigrationStrength(); !(a >= 0.2 && a <= 0.8) {
			return fmt.Errorf("%s.dmq_balancer.migration_strength: %g, must be in [0.2, 0.8]", where, a)
		}
	}
	return nil
}

func isInf32(f float32) bool { return math.IsInf(float64(f), 0) }

// shortF64 widens a float32 config value to the float64 with the same shortest
// decimal form, so 0.999999 stays 0.999999 in JSON instead of
// 0.9999989867210388.
func shortF64(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// CreateQuantConfig builds the JSON quant config for m from a simplified
// config (nil means all defaults), like AMCT's create_quant_config. skip adds
// layers to the config's skip_layers; batchNum > 0 overrides its batch_num.
// Skipped layers stay in the config with quant_enable false; the returned
// exclusions list every candidate that is not quantized, with the rule.
// m is not changed.
func CreateQuantConfig(m *onnx.Model, simple *configpb.AMCTConfig, skip []string, batchNum int) (*Config, []Exclusion, error) {
	if simple == nil {
		simple = &configpb.AMCTConfig{}
	}
	if err := validateSimple(simple); err != nil {
		return nil, nil, err
	}
	if batchNum < 0 {
		return nil, nil, fmt.Errorf("batch_num: %d, must be at least 1", batchNum)
	}
	if m == nil || m.Graph == nil {
		return nil, nil, fmt.Errorf("create quant config: model has no graph")
	}
	m = widenedModel(m)
	g := m.Graph
	if g == nil {
		return nil, nil, fmt.Errorf("create quant config: model has no graph")
	}
	checkName := func(field, name string) error {
		n := g.Node(name)
		if n == nil {
			return fmt.Errorf("%s: the model has no layer %q", field, name)
		}
		if n.Domain != "" || !quantizable[n.OpType] {
			return fmt.Errorf("%s: %q is a %s node, not a quantizable layer (Conv, ConvTranspose, Gemm, MatMul)", field, name, n.OpType)
		}
		return nil
	}
	skipLayers := append(append([]string(nil), simple.GetSkipLayers()...), skip...)
	for _, name := range skipLayers {
		if err := checkName("skip_layers", name); err != nil {
			return nil, nil, err
		}
	}
	for _, t := range simple.GetSkipLayerTypes() {
		if !quantizable[t] {
			return nil, nil, fmt.Errorf("skip_layer_types: %q is not a quantizable type (Conv, ConvTranspose, Gemm, MatMul)", t)
		}
	}
	byName := map[string]*configpb.CalibrationConfig{}
	for _, o := range simple.GetOverrideLayerConfigs() {
		if err := checkName("override_layer_configs", o.GetLayerName()); err != nil {
			return nil, nil, err
		}
		byName[o.GetLayerName()] = o.GetCalibrationConfig()
	}
	byType := map[string]*configpb.CalibrationConfig{}
	for _, o := range simple.GetOverrideLayerTypes() {
		byType[o.GetLayerType()] = o.GetCalibrationConfig()
	}
	for _, name := range simple.GetSkipFusionLayers() {
		if g.Node(name) == nil {
			return nil, nil, fmt.Errorf("skip_fusion_layers: the model has no layer %q", name)
		}
	}

	layers, excl, err := findLayers(m, FindOptions{}, false)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{
		Version:          ConfigVersion,
		BatchNum:         int(simple.GetBatchNum()),
		ActivationOffset: simple.GetActivationOffset(),
		DoFusion:         simple.GetDoFusion(),
		SkipFusionLayers: append([]string{}, simple.GetSkipFusionLayers()...),
		Layers:           map[string]*LayerConfig{},
	}
	if batchNum > 0 {
		cfg.BatchNum = batchNum
	}
	for _, l := range layers {
		cc, from := simple.GetCommonConfig(), "common_config"
		if c, ok := byType[l.Type]; ok {
			cc, from = c, fmt.Sprintf("override_layer_types %q", l.Type)
		}
		if c, ok := byName[l.Name]; ok {
			cc, from = c, "override_layer_configs"
		}
		lc, err := resolveLayer(l, cc, cfg.ActivationOffset)
		if err != nil {
			return nil, nil, fmt.Errorf("layer %q (%s, from %s): %w", l.Name, l.Type, from, err)
		}
		switch {
		case slices.Contains(skipLayers, l.Name):
			lc.QuantEnable = false
			excl = append(excl, Exclusion{Layer: l.Name, Type: l.Type, Rule: "skip_layers in config"})
		case slices.Contains(simple.GetSkipLayerTypes(), l.Type):
			lc.QuantEnable = false
			excl = append(excl, Exclusion{Layer: l.Name, Type: l.Type, Rule: "skip_layer_types in config"})
		}
		cfg.Layers[l.Name] = lc
	}
	return cfg, excl, nil
}

// resolveLayer turns the calibration config that applies to l (the most
// specific one replaces the others as a whole) into l's settings, filling
// the defaults.
func resolveLayer(l *Layer, cc *configpb.CalibrationConfig, actOffset bool) (*LayerConfig, error) {
	lc := &LayerConfig{QuantEnable: true}
	lc.Weight = WeightParams{NumBits: 8, Algo: "arq_quantize", ChannelWise: l.Type == "Conv" || l.Type == "ConvTranspose"}
	if a := cc.GetArqQuantize(); a != nil && a.ChannelWise != nil {
		if a.GetChannelWise() && (l.Type == "Gemm" || l.Type == "MatMul") {
			return nil, fmt.Errorf("arq_quantize.channel_wise: can only be false for %s", l.Type)
		}
		lc.Weight.ChannelWise = a.GetChannelWise()
	}
	asym := actOffset
	switch {
	case cc.GetHfmgQuantize() != nil:
		h := cc.GetHfmgQuantize()
		if h.Asymmetric != nil {
			asym = h.GetAsymmetric()
		}
		lc.Act = ActParams{NumBits: 8, Algo: "hfmg", NumOfBins: int(h.GetNumOfBins())}
	default:
		f := cc.GetIfmrQuantize()
		if f == nil {
			f = &configpb.IFMRQuantize{}
		}
		if f.Asymmetric != nil {
			asym = f.GetAsymmetric()
		}
		lc.Act = ActParams{
			NumBits:       8,
			Algo:          "ifmr",
			MaxPercentile: shortF64(f.GetMaxPercentile()),
			MinPercentile: shortF64(f.GetMinPercentile()),
			SearchRange:   [2]float64{shortF64(f.GetSearchRangeStart()), shortF64(f.GetSearchRangeEnd())},
			SearchStep:    shortF64(f.GetSearchStep()),
		}
	}
	// Ascend's Conv3d takes symmetric activations only.
	if l.Type == "Conv" && l.Spatial == 3 {
		asym = false
	}
	lc.Act.Asymmetric = asym
	if d := cc.GetDmqBalancer(); d != nil {
		lc.DMQ = &DMQParams{MigrationStrength: shortF64(d.GetMigrationStrength())}
	}
	return lc, nil
}

// JSON layout of a layer entry. Pointers mark keys that may be absent, so
// that reading can tell a missing key from a zero value.
type jsonLayer struct {
	QuantEnable *bool            `json:"quant_enable"`
	DMQ         *float64         `json:"dmq_balancer_param,omitempty"`
	AlphaSearch *jsonAlphaSearch `json:"amq_alpha_search,omitempty"`
	Act         *jsonAct         `json:"activation_quant_params"`
	Weight      *jsonWeight      `json:"weight_quant_params"`
}

// jsonAlphaSearch is amq's "amq_alpha_search" key (AlphaSearch).
type jsonAlphaSearch struct {
	Grid        *[]float64 `json:"grid"`
	IncludeNone *bool      `json:"include_none"`
}

type jsonAct struct {
	NumBits       *int        `json:"num_bits"`
	Algo          *string     `json:"act_algo"`
	MaxPercentile *float64    `json:"max_percentile,omitempty"`
	MinPercentile *float64    `json:"min_percentile,omitempty"`
	SearchRange   *[2]float64 `json:"search_range,omitempty"`
	SearchStep    *float64    `json:"search_step,omitempty"`
	NumOfBins     *int        `json:"num_of_bins,omitempty"`
	Asymmetric    *bool       `json:"asymmetric"`
}

type jsonWeight struct {
	NumBits     *int    `json:"num_bits"`
	Algo        *string `json:"wts_algo"`
	ChannelWise *bool   `json:"channel_wise"`
}

func cfgPtr[T any](v T) *T { return &v }

// Marshal encodes c as AMCT's JSON quant config: the global keys first, then
// the layers by name, with 4-space indentation.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	put := func(key string, v any) error {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("config key %q: %w", key, err)
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(b)
		return nil
	}
	skip := c.SkipFusionLayers
	if skip == nil {
		skip = []string{}
	}
	put("version", c.Version)
	put("batch_num", c.BatchNum)
	put("activation_offset", c.ActivationOffset)
	put("do_fusion", c.DoFusion)
	put("skip_fusion_layers", skip)
	for _, name := range c.LayerNames() {
		lc := c.Layers[name]
		jl := jsonLayer{
			QuantEnable: cfgPtr(lc.QuantEnable),
			Act:         &jsonAct{NumBits: cfgPtr(lc.Act.NumBits), Algo: cfgPtr(lc.Act.Algo), Asymmetric: cfgPtr(lc.Act.Asymmetric)},
			Weight:      &jsonWeight{NumBits: cfgPtr(lc.Weight.NumBits), Algo: cfgPtr(lc.Weight.Algo), ChannelWise: cfgPtr(lc.Weight.ChannelWise)},
		}
		if lc.DMQ != nil {
			jl.DMQ = cfgPtr(lc.DMQ.MigrationStrength)
		}
		if s := lc.AlphaSearch; s != nil {
			jl.AlphaSearch = &jsonAlphaSearch{Grid: cfgPtr(slices.Clone(s.Grid)), IncludeNone: cfgPtr(s.IncludeNone)}
		}
		switch lc.Act.Algo {
		case "ifmr":
			jl.Act.MaxPercentile = cfgPtr(lc.Act.MaxPercentile)
			jl.Act.MinPercentile = cfgPtr(lc.Act.MinPercentile)
			jl.Act.SearchRange = cfgPtr(lc.Act.SearchRange)
			jl.Act.SearchStep = cfgPtr(lc.Act.SearchStep)
		case "hfmg":
			jl.Act.NumOfBins = cfgPtr(lc.Act.NumOfBins)
		}
		if err := put(name, jl); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "    "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// LayerNames returns the names of the configured layers, sorted.
func (c *Config) LayerNames() []string {
	names := make([]string, 0, len(c.Layers))
	for n := range c.Layers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WriteConfig writes c to path as JSON, atomically.
func WriteConfig(path string, c *Config) error {
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, b)
}

// ReadConfig reads and validates a JSON quant config.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and validates a JSON quant config. Errors name the key.
func ParseConfig(data []byte) (*Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	c := &Config{Layers: map[string]*LayerConfig{}}
	global := []struct {
		key string
		dst any
	}{
		{"version", &c.Version},
		{"batch_num", &c.BatchNum},
		{"activation_offset", &c.ActivationOffset},
		{"do_fusion", &c.DoFusion},
		{"skip_fusion_layers", &c.SkipFusionLayers},
	}
	for _, gk := range global {
		raw, ok := top[gk.key]
		if !ok {
			return nil, fmt.Errorf("key %q: missing", gk.key)
		}
		if err := strictDecode(raw, gk.dst); err != nil {
			return nil, fmt.Errorf("key %q: %w", gk.key, err)
		}
		delete(top, gk.key)
	}
	for name, raw := range top {
		var jl jsonLayer
		if err := strictDecode(raw, &jl); err != nil {
			return nil, fmt.Errorf("layer %q: %w", name, err)
		}
		lc, err := jl.layerConfig()
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", name, err)
		}
		c.Layers[name] = lc
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// strictDecode decodes raw into dst, rejecting unknown keys.
func strictDecode(raw json.RawMessage, dst any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(dst)
}

func (jl *jsonLayer) layerConfig() (*LayerConfig, error) {
	switch {
	case jl.QuantEnable == nil:
		return nil, fmt.Errorf("key \"quant_enable\": missing")
	case jl.Act == nil:
		return nil, fmt.Errorf("key \"activation_quant_params\": missing")
	case jl.Weight == nil:
		return nil, fmt.Errorf("key \"weight_quant_params\": missing")
	}
	lc := &LayerConfig{QuantEnable: *jl.QuantEnable}
	if jl.DMQ != nil {
		lc.DMQ = &DMQParams{MigrationStrength: *jl.DMQ}
	}
	if s := jl.AlphaSearch; s != nil {
		switch {
		case s.Grid == nil:
			return nil, fmt.Errorf("key \"grid\": missing in %s", alphaSearchKey)
		case s.IncludeNone == nil:
			return nil, fmt.Errorf("key \"include_none\": missing in %s", alphaSearchKey)
		}
		lc.AlphaSearch = &AlphaSearch{Grid: *s.Grid, IncludeNone: *s.IncludeNone}
	}
	a, w := jl.Act, jl.Weight
	missing := func(obj, key string) error {
		return fmt.Errorf("key %q: missing in %s", key, obj)
	}
	const ak, wk = "activation_quant_params", "weight_quant_params"
	switch {
	case a.NumBits == nil:
		return nil, missing(ak, "num_bits")
	case a.Algo == nil:
		return nil, missing(ak, "act_algo")
	case a.Asymmetric == nil:
		return nil, missing(ak, "asymmetric")
	case w.NumBits == nil:
		return nil, missing(wk, "num_bits")
	case w.Algo == nil:
		return nil, missing(wk, "wts_algo")
	case w.ChannelWise == nil:
		return nil, missing(wk, "channel_wise")
	}
	lc.Act = ActParams{NumBits: *a.NumBits, Algo: *a.Algo, Asymmetric: *a.Asymmetric}
	lc.Weight = WeightParams{NumBits: *w.NumBits, Algo: *w.Algo, ChannelWise: *w.ChannelWise}
	switch *a.Algo {
	case "ifmr":
		switch {
		case a.MaxPercentile == nil:
			return nil, missing(ak, "max_percentile")
		case a.MinPercentile == nil:
			return nil, missing(ak, "min_percentile")
		case a.SearchRange == nil:
			return nil, missing(ak, "search_range")
		case a.SearchStep == nil:
			return nil, missing(ak, "search_step")
		case a.NumOfBins != nil:
			return nil, fmt.Errorf("key \"num_of_bins\" in %s: not used by ifmr", ak)
		}
		lc.Act.MaxPercentile, lc.Act.MinPercentile = *a.MaxPercentile, *a.MinPercentile
		lc.Act.SearchRange, lc.Act.SearchStep = *a.SearchRange, *a.SearchStep
	case "hfmg":
		if a.NumOfBins == nil {
			return nil, missing(ak, "num_of_bins")
		}
		if a.MaxPercentile != nil || a.MinPercentile != nil || a.SearchRange != nil || a.SearchStep != nil {
			return nil, fmt.Errorf("%s: ifmr keys given with act_algo \"hfmg\"", ak)
		}
		lc.Act.NumOfBins = *a.NumOfBins
	}
	return lc, nil
}

// Validate checks the values of c; errors name the layer and key.
func (c *Config) Validate() error {
	if c.Version != ConfigVersion {
		return fmt.Errorf("key \"version\": %d, want %d", c.Version, ConfigVersion)
	}
	if c.BatchNum < 1 {
		return fmt.Errorf("key \"batch_num\": %d, must be at least 1", c.BatchNum)
	}
	for _, name := range c.LayerNames() {
		lc := c.Layers[name]
		if lc == nil {
			return fmt.Errorf("layer %q: no settings", name)
		}
		if err := lc.validate(); err != nil {
			return fmt.Errorf("layer %q: %w", name, err)
		}
	}
	return nil
}

func (lc *LayerConfig) validate() error {
	if lc.DMQ != nil {
		if a := lc.DMQ.MigrationStrength; !(a >= 0.2 && a <= 0.8) {
			return fmt.Errorf("key \"dmq_balancer_param\": %g, must be in [0.2, 0.8]", a)
		}
	}
	if lc.AlphaSearch != nil {
		if lc.DMQ != nil {
			return fmt.Errorf("keys \"dmq_balancer_param\" and %q: a layer has a fixed migration strength or a search, not both", alphaSearchKey)
		}
		if err := lc.AlphaSearch.validate(); err != nil {
			return err
		}
	}
	a := lc.Act
	if a.NumBits != 8 {
		return fmt.Errorf("activation_quant_params key \"num_bits\": %d, only 8 is supported", a.NumBits)
	}
	switch a.Algo {
	case "ifmr":
		switch {
		case !(a.SearchRange[0] > 0 && a.SearchRange[0] < a.SearchRange[1]) || math.IsInf(a.SearchRange[1], 0):
			return fmt.Errorf("activation_quant_params key \"search_range\": %v, need 0 < start < end", a.SearchRange)
		case !(a.SearchStep > 0) || math.IsInf(a.SearchStep, 0):
			return fmt.Errorf("activation_quant_params key \"search_step\": %g, must be > 0", a.SearchStep)
		case !(a.MaxPercentile > 0.5 && a.MaxPercentile <= 1):
			return fmt.Errorf("activation_quant_params key \"max_percentile\": %g, must be in (0.5, 1]", a.MaxPercentile)
		case !(a.MinPercentile > 0.5 && a.MinPercentile <= 1):
			return fmt.Errorf("activation_quant_params key \"min_percentile\": %g, must be in (0.5, 1]", a.MinPercentile)
		}
	case "hfmg":
		switch a.NumOfBins {
		case 1024, 2048, 4096, 8192:
		default:
			return fmt.Errorf("activation_quant_params key \"num_of_bins\": %d, must be 1024, 2048, 4096 or 8192", a.NumOfBins)
		}
	default:
		return fmt.Errorf("activation_quant_params key \"act_algo\": %q, want \"ifmr\" or \"hfmg\"", a.Algo)
	}
	w := lc.Weight
	if w.NumBits != 8 {
		return fmt.Errorf("weight_quant_params key \"num_bits\": %d, only 8 is supported", w.NumBits)
	}
	if w.Algo != "arq_quantize" {
		return fmt.Errorf("weight_quant_params key \"wts_algo\": %q, want \"arq_quantize\"", w.Algo)
	}
	return nil
}
