package quant

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"amq/backend"
	"amq/internal/atomicfile"
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
	// Alpha, when set, replaces the balance of every enabled layer by the
	// per-layer α search with these settings (what --alpha auto does; see
	// AlphaSearch), in the config created or given.
	Alpha *AlphaSearch
	// NoEval skips the SQNR evaluation of the fake-quant model.
	NoEval bool
	// EvalBatches is the number of calibration batches the SQNR
	// evaluation runs (at most batch_num); 0 means DefaultEvalBatches.
	EvalBatches int
	// BiasCorrect shifts each quantized layer's bias by the mean error of
	// its quantized output per output channel, where that lowers the
	// error on held-out calibration samples (docs/design.md "Bias
	// correction"). The corrected biases live in the saved models; the
	// record stays AMCT's.
	BiasCorrect bool
	// Board, when set, also evaluates the deploy model as the NPU computes
	// it under an ATC precision mode (QuantizeReport.Board); it needs the
	// evaluation, so NoEval must be false. Calibration is not affected.
	Board *BoardCheck
	// Progress, when set, is called after each batch of each step with the
	// step name ("preprocess", "calibrate", "bias-correct", "evaluate"),
	// the batches done and the step's total. It is called from one
	// goroutine at a time.
	Progress func(step string, done, total int)
	// Model is passed to onnx.Model.Save for both models.
	Model *onnx.SaveOptions
	// BeforeCommit, when set, is called with the finished report before
	// the outputs move into place; path(name) is where to write a file
	// that is to become name in prefix's folder (name without a folder).
	// Those files are committed with the four outputs, and an error fails
	// the run, leaving none of them. This is how the CLI adds its report.
	BeforeCommit func(rep *QuantizeReport, path func(name string) string) error
}

// RunFlow runs AMCT's whole post-training flow on m, in steps:
//
//   - prepare: the quant config (opt.Config, else created from opt.Simple)
//     and Prepare (Conv+BN fusion, the layers, the config checked);
//   - factors: the DMQ balance factors when any enabled layer has a
//     dmq_balancer or an amq_alpha_search (PreprocessWith; the α search's
//     work after the pass is a step of its own, "search"), then the quant
//     factors (Calibrate), and with opt.BiasCorrect each layer's bias
//     correction;
//   - write: <prefix>_fake_quant_model.onnx, <prefix>_deploy_model.onnx,
//     <prefix>_quant_config.json and <prefix>_record.txt, into a private
//     staging folder next to prefix;
//   - report and evaluate: the report of the layers, their factors and the
//     statistics behind them (balance maxima, activation histograms);
//     unless opt.NoEval is set, the float and the fake-quant model run on
//     the first opt.EvalBatches calibration batches (by default a
//     twentieth of the samples: DefaultEvalBatches batches, or
//     DefaultEvalSamples samples of the first batch) through b, giving the SQNR of every quantized layer's output and
//     graph output;
//   - commit: opt.BeforeCommit adds its files, then all move into place
//     together.
//
// A failed run leaves no partial output behind, and removes the output
// folder when it created it. m is not changed.
func RunFlow(m *onnx.Model, b backend.Backend, data DataSource, prefix string, opt QuantizeOptions) (*QuantizeReport, error) {
	return RunFlowContext(context.Background(), m, b, data, prefix, opt)
}

// RunFlowContext is RunFlow stopped by ctx: once ctx is cancelled, every
// step stops between batches (the backends between nodes or executions),
// the saving between files, and the run fails with ctx.Err(), leaving the
// outputs as they were.
func RunFlowContext(ctx context.Context, m *onnx.Model, b backend.Backend, data DataSource, prefix string, opt QuantizeOptions) (_ *QuantizeReport, err error) {
	if err := checkFlowArgs(m, b, data, prefix); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := opt.Board.check(opt.NoEval); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	b, data = backend.WithContext(ctx, b), ContextSource(ctx, data)
	if opt.Board != nil {
		board := *opt.Board
		board.Backend = backend.WithContext(ctx, board.Backend)
		opt.Board = &board
	}
	clk := newClock()
	p, err := prepareFlow(m, data, opt)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if opt.BiasCorrect {
		if err := checkBiasCorrection(data, p.Config.BatchNum); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	clk.lap("prepare")
	batchSize := 0
	src := batchSizeProbe{firstBatches{data, p.Config.BatchNum}, &batchSize}
	// The staging folder first: an output folder that cannot take files
	// fails the run before any forward pass, not after them.
	dir, name := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	made, err := atomicfile.MkdirAll(dir)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			made.Undo()
		}
	}()
	st, err := atomicfile.NewStaging(dir, ".amq-quantize-")
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer st.Discard()
	// A failure to write (disk full, permission) names the output, not
	// the staging paths.
	defer func() { err = st.Err(err) }()
	f, err := computeFactors(p, b, src, opt, clk)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	var quantized *quantizedSave // bias correction quantizes the model once for Save
	if opt.BiasCorrect {
		if f.bias, quantized, err = correctBiases(p, f.rec, b, progressSource{src, "bias-correct", opt.Progress}, opt.Fold); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		clk.lap("bias-correct")
	}
	srep, err := writeOutputs(ctx, st, name, p, f.rec, keptShifts(f.bias), quantized, opt)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	clk.lap("write")
	rep := newReport(prefix, p, f, srep)
	rep.BatchSize, rep.Joint, rep.Fold = batchSize, opt.Joint, opt.Fold
	if !opt.NoEval {
		fake, err := onnx.LoadFile(srep.FakeQuantPath)
		if err != nil {
			return nil, fmt.Errorf("quantize: reload fake-quant model: %w", err)
		}
		board, err := openBoardEval(opt.Board, p, srep)
		if err != nil {
			return nil, fmt.Errorf("quantize: evaluate: %w", err)
		}
		// The board check looks for float16 overflow, which fewer
		// samples would miss: it keeps whole batches.
		cuttable := board == nil && batchCuttable(p.Model, b)
		var evalSrc DataSource
		evalSrc, rep.EvalBatches, rep.EvalSamples = evalSource(src, opt.EvalBatches, p.Config.BatchNum, batchSize, cuttable)
		if err := evaluate(p.Model, fake, p.Layers, b, progressSource{evalSrc, "evaluate", opt.Progress}, rep, board); err != nil {
			return nil, fmt.Errorf("quantize: evaluate: %w", err)
		}
		clk.lap("evaluate")
	}
	rep.Phases = clk.phases
	if opt.BeforeCommit != nil {
		if err := opt.BeforeCommit(rep, st.Path); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := st.Commit(); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	committed = true
	return rep, nil
}

// DefaultEvalBatches is the number of batches RunFlow's SQNR evaluation
// runs by default for batchNum calibration batches: one in 20, at least
// one. The evaluation runs two models per batch, so it costs at most a
// tenth of the flow's forward passes once batchNum reaches 20
// (docs/design.md "RunFlow").
func DefaultEvalBatches(batchNum int) int { return max(1, batchNum/20) }

// evalBatches is the number of batches the evaluation runs for the option
// n (0: the default) and batchNum calibration batches.
func evalBatches(n, batchNum int) int {
	if n <= 0 {
		return DefaultEvalBatches(batchNum)
	}
	return min(n, batchNum)
}

// clock times the steps of a run, one lap per step.
type clock struct {
	phases []Phase
	start  time.Time
}

func newClock() *clock { return &clock{start: time.Now()} }

// lap ends the step called name. The step's garbage (a calibration
// model's weight copies, a batch's activations) goes back to the system
// here, so that the next step does not start on top of it.
func (c *clock) lap(name string) {
	debug.FreeOSMemory()
	now := time.Now()
	c.phases = append(c.phases, Phase{Name: name, Time: now.Sub(c.start)})
	c.start = now
}

// batchSizeProbe notes the number of samples of the first batch it hands
// out: axis 0 of its first input by name.
type batchSizeProbe struct {
	DataSource
	size *int
}

func (p batchSizeProbe) Batch(i int) (map[string]*onnx.Tensor, error) {
	in, err := p.DataSource.Batch(i)
	if err == nil && *p.size == 0 {
		*p.size = samplesIn(in)
	}
	return in, err
}

// samplesIn is the number of samples of a batch: axis 0 of its first input
// by name; 0 when it has none.
func samplesIn(in map[string]*onnx.Tensor) int {
	names := slices.Sorted(maps.Keys(in))
	if len(names) > 0 && in[names[0]] != nil && in[names[0]].Rank() > 0 {
		return in[names[0]].Shape[0]
	}
	return 0
}

// checkFlowArgs checks RunFlow's arguments before any work.
func checkFlowArgs(m *onnx.Model, b backend.Backend, data DataSource, prefix string) error {
	switch {
	case m == nil || m.Graph == nil:
		return fmt.Errorf("model has no graph")
	case b == nil:
		return fmt.Errorf("no backend")
	case data == nil || data.Len() == 0:
		return fmt.Errorf("no calibration batches")
	case prefix == "" || strings.HasSuffix(prefix, string(filepath.Separator)):
		return fmt.Errorf("output prefix %q must end in a file name prefix", prefix)
	}
	return nil
}

// prepareFlow makes the quant config (opt.Config, else one created from
// opt.Simple) and prepares m with it; its exclusions include the config's.
func prepareFlow(m *onnx.Model, data DataSource, opt QuantizeOptions) (*Prepared, error) {
	var cfg *Config
	var excl []Exclusion
	if opt.Config != nil {
		if err := opt.Config.Validate(); err != nil {
			return nil, fmt.Errorf("quant config: %w", err)
		}
		cfg = opt.Config
	} else {
		var err error
		if cfg, excl, err = CreateQuantConfig(m, opt.Simple, opt.Skip, opt.BatchNum); err != nil {
			return nil, err
		}
	}
	p, err := Prepare(m, cfg, PrepareOptions{Skip: opt.Skip, KeepShared: opt.KeepShared})
	if err != nil {
		return nil, err
	}
	if opt.BatchNum > 0 {
		p.Config.BatchNum = opt.BatchNum
	}
	if opt.Alpha != nil {
		if err := p.Config.UseAlphaSearch(opt.Alpha); err != nil {
			return nil, fmt.Errorf("alpha search: %w", err)
		}
	}
	p.Excluded = mergeExclusions(excl, p.Excluded)
	if len(p.Layers) == 0 {
		return nil, fmt.Errorf("no layer to quantize (%d candidates excluded)", len(p.Excluded))
	}
	if data.Len() < p.Config.BatchNum {
		return nil, fmt.Errorf("batch_num is %d but the data has %d batches", p.Config.BatchNum, data.Len())
	}
	return p, nil
}

// factors are what the forward passes of the flow found: the record and
// the statistics behind it, by layer name.
type factors struct {
	rec     Record
	balance map[string]*BalanceStats
	choices map[string]*AlphaChoice
	hists   map[string]*ActHistogram
	bias    map[string]*BiasCorrection // with BiasCorrect
}

// computeFactors runs the forward passes: the balance factors when some
// layer asks for DMQ or the α search, then the quant factors.
func computeFactors(p *Prepared, b backend.Backend, src DataSource, opt QuantizeOptions, clk *clock) (*factors, error) {
	f := &factors{rec: Record{}}
	if anyDMQ(p.Layers, p.Config) {
		plan, err := newBalancePlan(p.Model, p.Layers, p.Config, DMQOptions{Joint: opt.Joint})
		if err != nil {
			return nil, err
		}
		if err := plan.observe(b, progressSource{src, "preprocess", opt.Progress}); err != nil {
			return nil, err
		}
		clk.lap("preprocess")
		if len(plan.units) > 0 {
			if err := plan.search(b, src); err != nil {
				return nil, err
			}
			clk.lap("search")
		}
		r := plan.result()
		f.rec, f.balance, f.choices = r.rec, r.stats, r.choices
	}
	var err error
	if f.hists, err = calibrate(p.Model, p.Layers, p.Config, f.rec, b, progressSource{src, "calibrate", opt.Progress}); err != nil {
		return nil, err
	}
	clk.lap("calibrate")
	return f, nil
}

// writeOutputs writes the four files of RunFlow into st, named after name,
// with the bias shifts applied; quantized, if set, is the model quantized
// with them already.
func writeOutputs(ctx context.Context, st *atomicfile.Staging, name string, p *Prepared, rec Record, shifts map[string][]float64, quantized *quantizedSave, opt QuantizeOptions) (*SaveReport, error) {
	srep, err := saveStaged(ctx, st, name, p.Model, p.Layers, p.Config, rec, SaveOptions{Model: opt.Model, Balance: BalanceOptions{Fold: opt.Fold}, BiasShift: shifts, quantized: quantized})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := WriteConfig(st.Path(name+configSuffix), p.Config); err != nil {
		return nil, err
	}
	if err := WriteRecord(st.Path(name+recordSuffix), rec); err != nil {
		return nil, err
	}
	return srep, nil
}

// anyDMQ reports whether some layer's config asks for balance, with a
// fixed strength or the α search.
func anyDMQ(layers []*Layer, cfg *Config) bool {
	for _, l := range layers {
		if lc := cfg.Layers[l.Name]; lc != nil && lc.QuantEnable && (lc.DMQ != nil || lc.AlphaSearch != nil) {
			return true
		}
	}
	return false
}
