package quant

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"amq/backend"
	"amq/onnx"
	"amq/quant/configpb"
)

// QuantizeOptions controls RunFlow.
type QuantizeOptions struct {
	// Simple is the simplified config (.cfg); nil means all defaults.
	// Ignored when Config is set.
	Simple *configpb.AMCTConfig
	// Config is a ready JSON quant config to use instead of creating one
	// from Simple. RunFlow does not change it.
	Config *Config
	// Skip adds layers to the config's skip_layers.
	Skip []string
	// BatchNum > 0 overrides the config's batch_num. Every step (balance
	// factors, calibration, the SQNR report) uses the first batch_num
	// batches of the data.
	BatchNum int
	// KeepShared excludes layers whose weight or bias is shared with
	// another node, as AMCT does, instead of giving them private copies.
	KeepShared bool
	// Joint computes one set of balance factors for all DMQ layers that
	// read the same tensor (see DMQOptions.Joint).
	Joint bool
	// Fold folds the balance into the producer of the activation where it
	// is exact, instead of inserting a Mul (see BalanceOptions.Fold).
	// Folding needs equal factors on all readers of a tensor, hence
	// usually Joint.
	Fold bool
	// NoEval skips the SQNR evaluation of the fake-quant model.
	NoEval bool
	// Progress, when set, is called after each batch of each step with the
	// step name ("preprocess", "calibrate", "evaluate"), the batches done
	// and the step's total. It is called from one goroutine at a time.
	Progress func(step string, done, total int)
	// Model is passed to onnx.Model.Save for both models.
	Model *onnx.SaveOptions
}

// QuantizeReport tells what RunFlow did.
type QuantizeReport struct {
	// Paths of the files written.
	FakeQuantPath, DeployPath, ConfigPath, RecordPath string
	// Config and Record are the quant config and record written.
	Config *Config
	Record Record
	// Layers has one entry per quantized layer, in graph order.
	Layers []LayerReport
	// Excluded lists every candidate layer that is not quantized, with the
	// rule that excluded it.
	Excluded []Exclusion
	// Outputs maps each float graph output to the SQNR in dB of the
	// fake-quant model's output against the float model's, over the
	// calibration batches (empty with NoEval).
	Outputs map[string]float64
	// OutputNames lists the graph outputs in model order.
	OutputNames []string
	// Batches is the number of batches every step used.
	Batches int
	// Warnings are conditions worth a look that did not stop the run.
	Warnings []string
	// Fused lists the Conv layers a BatchNormalization was folded into
	// (do_fusion), in graph order.
	Fused []string
}

// LayerReport is one quantized layer's line of the summary.
type LayerReport struct {
	Name string
	Type string
	// Balance says how the DMQ factors were applied: "none", "Mul" (an
	// inserted Mul by 1/s, as AMCT does), or "folded into <node>".
	Balance string
	// BalanceNote says why folding was not done when it was asked for.
	BalanceNote string
	ScaleD      float32
	OffsetD     int32
	ScaleW      []float32 // one, or one per output channel
	// SQNR is 10*log10(sum y^2 / sum (y - y_q)^2) in dB for the layer's
	// output y in the float model and y_q in the fake-quant model, over the
	// calibration batches; +Inf when identical, NaN with NoEval.
	SQNR float64
	// Notes are FindLayers' remarks (such as a private copy of a shared
	// weight).
	Notes []string
}

// RunFlow runs AMCT's whole post-training flow on m: it creates the quant
// config, folds BatchNormalization into the preceding Convs unless the
// config says otherwise (FuseConvBN), computes the DMQ balance factors when
// any enabled layer has a dmq_balancer, calibrates, and writes
// <prefix>_fake_quant_model.onnx, <prefix>_deploy_model.onnx,
// <prefix>_quant_config.json and <prefix>_record.txt. Unless opt.NoEval is
// set, it then runs the float model and the fake-quant model on the
// calibration batches through b and reports the SQNR of every quantized
// layer's output.
//
// The files are written into a temporary folder next to prefix and moved
// into place only after every step succeeded, so a failed run leaves no
// partial output behind. m is not changed.
func RunFlow(m *onnx.Model, b backend.Backend, data DataSource, prefix string, opt QuantizeOptions) (*QuantizeReport, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("quantize: model has no graph")
	}
	if b == nil {
		return nil, fmt.Errorf("quantize: no backend")
	}
	if data == nil || data.Len() == 0 {
		return nil, fmt.Errorf("quantize: no calibration batches")
	}
	if prefix == "" || strings.HasSuffix(prefix, string(filepath.Separator)) {
		return nil, fmt.Errorf("quantize: output prefix %q must end in a file name prefix", prefix)
	}
	work := m.Clone()

	// 1. Config and layers.
	var cfg *Config
	var excl []Exclusion
	var err error
	if opt.Config != nil {
		cfg = cloneConfig(opt.Config)
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("quantize: quant config: %w", err)
		}
	} else {
		cfg, excl, err = CreateQuantConfig(work, opt.Simple, opt.Skip, opt.BatchNum)
		if err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	if opt.BatchNum > 0 {
		cfg.BatchNum = opt.BatchNum
	}
	for _, name := range opt.Skip {
		n := work.Graph.Node(name)
		if n == nil {
			return nil, fmt.Errorf("quantize: skip_layers: the model has no layer %q", name)
		}
		if lc := cfg.Layers[name]; lc != nil && lc.QuantEnable {
			lc.QuantEnable = false
			excl = append(excl, Exclusion{Layer: name, Type: n.OpType, Rule: "skip_layers in config"})
		}
	}
	// AMCT fuses Conv+BN after the config exists (the Conv names stay) and
	// before it finds the layers to quantize.
	fused, err := FuseConvBN(work, cfg)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	layers, fexcl, err := FindLayers(work, FindOptions{KeepShared: opt.KeepShared})
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	excl = mergeExclusions(excl, fexcl)
	found := map[string]bool{}
	var active []*Layer
	for _, l := range layers {
		found[l.Name] = true
		if lc := cfg.Layers[l.Name]; lc != nil && lc.QuantEnable {
			active = append(active, l)
		} else if lc == nil {
			excl = mergeExclusions(excl, []Exclusion{{Layer: l.Name, Type: l.Type, Rule: "not in the quant config"}})
		}
	}
	// A layer FindLayers refused (shared parameters with KeepShared) is not
	// quantized: the config written must say so.
	for _, name := range cfg.LayerNames() {
		if !found[name] && cfg.Layers[name].QuantEnable {
			if opt.Config != nil && work.Graph.Node(name) == nil {
				return nil, fmt.Errorf("quantize: quant config: layer %q is not in the model", name)
			}
			cfg.Layers[name].QuantEnable = false
		}
	}
	if len(active) == 0 {
		return nil, fmt.Errorf("quantize: no layer to quantize (%d candidates excluded)", len(excl))
	}
	if data.Len() < cfg.BatchNum {
		return nil, fmt.Errorf("quantize: batch_num is %d but the data has %d batches", cfg.BatchNum, data.Len())
	}
	src := firstBatches{data, cfg.BatchNum}

	// 2. Balance factors, 3. quant factors.
	rec := Record{}
	if anyDMQ(active, cfg) {
		rec, err = PreprocessWith(work, active, cfg, b, progressSource{src, "preprocess", opt.Progress}, DMQOptions{Joint: opt.Joint})
		if err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	if err := Calibrate(work, active, cfg, rec, b, progressSource{src, "calibrate", opt.Progress}); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}

	// 4. Save everything into a private folder first.
	dir, base := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".amq-quantize-*")
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer os.RemoveAll(tmp)
	tprefix := filepath.Join(tmp, base)
	var bal *BalanceReport
	srep, err := Save(work, active, cfg, rec, tprefix, SaveOptions{
		Model: opt.Model,
		Balance: func(m *onnx.Model, ls []*Layer, rec Record) error {
			var err error
			bal, err = ApplyBalance(m, ls, rec, BalanceOptions{Fold: opt.Fold})
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := WriteConfig(tprefix+"_quant_config.json", cfg); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := WriteRecord(tprefix+"_record.txt", rec); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}

	rep := &QuantizeReport{
		FakeQuantPath: prefix + "_fake_quant_model.onnx",
		DeployPath:    prefix + "_deploy_model.onnx",
		ConfigPath:    prefix + "_quant_config.json",
		RecordPath:    prefix + "_record.txt",
		Config:        cfg,
		Record:        rec,
		Excluded:      mergeExclusions(excl, srep.Skipped),
		Outputs:       map[string]float64{},
		Batches:       cfg.BatchNum,
		Warnings:      srep.Warnings,
		Fused:         fused,
	}
	for _, o := range work.Graph.Outputs {
		rep.OutputNames = append(rep.OutputNames, o.Name)
	}
	how := map[string]BalanceAction{}
	if bal != nil {
		for _, a := range bal.Layers {
			how[a.Layer] = a
		}
	}
	for _, l := range active {
		r := rec[l.Name]
		lr := LayerReport{Name: l.Name, Type: l.Type, Balance: "none", ScaleD: r.ScaleD, OffsetD: r.OffsetD,
			ScaleW: slices.Clone(r.ScaleW), SQNR: math.NaN(), Notes: l.Notes}
		if a, ok := how[l.Name]; ok {
			lr.BalanceNote = a.Note
			if a.Kind == BalanceMul {
				lr.Balance = "Mul"
			} else {
				lr.Balance = "folded into " + a.Node
			}
		}
		rep.Layers = append(rep.Layers, lr)
	}

	// 5. SQNR of every layer output and graph output.
	if !opt.NoEval {
		fake, err := onnx.LoadFile(tprefix + "_fake_quant_model.onnx")
		if err != nil {
			return nil, fmt.Errorf("quantize: reload fake-quant model: %w", err)
		}
		if err := evaluate(work, fake, active, b, progressSource{src, "evaluate", opt.Progress}, rep); err != nil {
			return nil, fmt.Errorf("quantize: evaluate: %w", err)
		}
	}

	// 6. Move the files into place.
	if err := moveInto(tmp, dir); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return rep, nil
}

// evaluate runs the float model ref and the fake-quant model fake on every
// batch of data and fills the SQNR of each layer output and graph output of
// rep, accumulating sums so that memory does not grow with the batches.
func evaluate(ref, fake *onnx.Model, layers []*Layer, b backend.Backend, data DataSource, rep *QuantizeReport) (err error) {
	// A layer's output keeps its name in the fake-quant model: the
	// dequantization writes the original tensor.
	var observe []string
	outOf := map[string]string{}
	for _, l := range layers {
		n := ref.Graph.Node(l.Name)
		if n == nil || len(n.Outputs) == 0 {
			return fmt.Errorf("layer %q: not in the model", l.Name)
		}
		out := n.Outputs[0]
		if fake.Graph.Producer(out) == nil {
			return fmt.Errorf("layer %q: output %q is not in the fake-quant model", l.Name, out)
		}
		outOf[l.Name] = out
		if !ref.Graph.IsOutput(out) {
			observe = append(observe, out)
		}
	}
	observe = dedupe(observe)
	rr, err := b.Prepare(ref, observe)
	if err != nil {
		return fmt.Errorf("prepare float model: %w", err)
	}
	defer closeRunner(rr, &err)
	fr, err := b.Prepare(fake, observe)
	if err != nil {
		return fmt.Errorf("prepare fake-quant model: %w", err)
	}
	defer closeRunner(fr, &err)

	type acc struct{ sig, noise float64 }
	sums := map[string]*acc{}
	for _, name := range append(slices.Clone(observe), rep.OutputNames...) {
		sums[name] = &acc{}
	}
	// SQNR is for float tensors; a graph output of another type (class
	// indices, shapes) gets none rather than failing the run.
	notFloat := map[string]bool{}
	for i := range data.Len() {
		in, err := data.Batch(i)
		if err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		ro, err := rr.Run(in)
		if err != nil {
			return fmt.Errorf("batch %d: float model: %w", i, err)
		}
		fo, err := fr.Run(in)
		if err != nil {
			return fmt.Errorf("batch %d: fake-quant model: %w", i, err)
		}
		for name, a := range sums {
			x, y := ro[name], fo[name]
			if x == nil || y == nil {
				return fmt.Errorf("batch %d: backend returned no tensor %q", i, name)
			}
			if x.DType != onnx.Float && ref.Graph.IsOutput(name) && !slices.Contains(observe, name) {
				notFloat[name] = true
				continue
			}
			s, n, err := sqnrSums(x, y)
			if err != nil {
				return fmt.Errorf("batch %d: tensor %q: %w", i, name, err)
			}
			a.sig += s
			a.noise += n
		}
	}
	db := func(a *acc) float64 {
		if a.noise == 0 {
			return math.Inf(1)
		}
		return 10 * math.Log10(a.sig/a.noise)
	}
	for i := range rep.Layers {
		if a := sums[outOf[rep.Layers[i].Name]]; a != nil {
			rep.Layers[i].SQNR = db(a)
		}
	}
	for _, o := range rep.OutputNames {
		if !notFloat[o] {
			rep.Outputs[o] = db(sums[o])
		}
	}
	return nil
}

// sqnrSums returns sum x^2 and sum (x-y)^2 of two float tensors of the same
// shape.
func sqnrSums(x, y *onnx.Tensor) (sig, noise float64, err error) {
	xd, err := onnx.Data[float32](x)
	if err != nil {
		return 0, 0, err
	}
	yd, err := onnx.Data[float32](y)
	if err != nil {
		return 0, 0, err
	}
	if !slices.Equal(x.Shape, y.Shape) {
		return 0, 0, fmt.Errorf("shapes %v and %v differ", x.Shape, y.Shape)
	}
	for k, v := range xd {
		d := float64(v) - float64(yd[k])
		sig += float64(v) * float64(v)
		noise += d * d
	}
	return sig, noise, nil
}

// SQNR returns 10*log10(sum ref^2 / sum (ref - got)^2) in dB for two float
// tensors of the same shape: +Inf when they are equal.
func SQNR(ref, got *onnx.Tensor) (float64, error) {
	s, n, err := sqnrSums(ref, got)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(s/n), nil
}

func closeRunner(r backend.Runner, err *error) {
	if cerr := r.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close runner: %w", cerr)
	}
}

// anyDMQ reports whether some layer's config asks for balance.
func anyDMQ(layers []*Layer, cfg *Config) bool {
	for _, l := range layers {
		if lc := cfg.Layers[l.Name]; lc != nil && lc.QuantEnable && lc.DMQ != nil {
			return true
		}
	}
	return false
}

// mergeExclusions appends the exclusions of more whose layer a does not
// name yet.
func mergeExclusions(a, more []Exclusion) []Exclusion {
	for _, e := range more {
		if !slices.ContainsFunc(a, func(x Exclusion) bool { return x.Layer == e.Layer }) {
			a = append(a, e)
		}
	}
	return a
}

// cloneConfig returns a deep copy of c.
func cloneConfig(c *Config) *Config {
	d := *c
	d.SkipFusionLayers = slices.Clone(c.SkipFusionLayers)
	d.Layers = make(map[string]*LayerConfig, len(c.Layers))
	for k, v := range c.Layers {
		lc := *v
		if v.DMQ != nil {
			dmq := *v.DMQ
			lc.DMQ = &dmq
		}
		d.Layers[k] = &lc
	}
	return &d
}
