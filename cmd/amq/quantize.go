package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"amq/backend"
	"amq/onnx"
	"amq/quant"
	"amq/quant/configpb"
	"amq/report"
)

func init() { subcommands = append(subcommands, newQuantizeCmd) }

// quantizeFlags are amq quantize's settings.
type quantizeFlags struct {
	model, config, out              string
	data                            dataFlags
	batchNum                        int
	backend                         backendFlags
	skip                            []string
	keepShared, fold, joint, noEval bool
	evalBatches                     int
	noReport, biasCorrect           bool
	precision                       string // the board check's ATC precision mode
	alpha                           string
}

func newQuantizeCmd() *cobra.Command {
	var f quantizeFlags
	cmd := &cobra.Command{
		Use:   "quantize --model M.onnx --data calib.npy --out results/model",
		Short: "Run the whole post-training flow: config, DMQ balance, calibration, fake-quant and deploy models",
		Long: `Quantize runs AMCT's post-training flow in one step: it creates the quant
config from --config (a simplified .cfg; defaults without it), computes the
DMQ balance factors when the config asks for them, calibrates on --data,
and writes <out>_fake_quant_model.onnx, <out>_deploy_model.onnx,
<out>_quant_config.json and <out>_record.txt, with the report of the run:
<out>_report.json, <out>_report.md and PNG plots (<out>_report_*.png; see
amq report). The files appear only when every step succeeded.

It then runs the float and the fake-quant model on the calibration batches
and prints, per layer, how the balance was applied, the quant factors and
the SQNR of the layer's output against the float model.

Without --batch-num, every full batch of --data is used unless the .cfg
sets batch_num.

With --bias-correct, after calibration each quantized layer's bias is
shifted, per output channel, by the mean difference between its quantized
and its float output, computed on the even calibration samples and kept
only where it lowers that difference on the odd ones; the corrected biases
are in both models (the record stays AMCT's).

--precision MODE also runs the float and the deploy model on sim as the
NPU computes them under ATC's precision mode MODE (force_fp16 is ATC's
default for inference) and prints the SQNR the board would see and every
node whose values overflow float16 or flush to zero in bulk, in the float
model (before the balance and quantization) and in the deploy model
(after). Calibration still runs in float32, so the record does not change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runQuantize(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), progressOf(cmd), &f, cmd.Flags().Changed("batch-num"))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "ONNX model to quantize (required)")
	f.data.add(fl)
	fl.StringVar(&f.config, "config", "", "simplified config (.cfg, protobuf text format); default settings without it")
	fl.StringVar(&f.out, "out", "", "output prefix, e.g. results/model (required)")
	fl.IntVar(&f.batchNum, "batch-num", 0, "batches to calibrate on (overrides the config's batch_num; default: all)")
	fl.StringSliceVar(&f.skip, "skip", nil, "layers (ONNX node names) not to quantize, comma-separated")
	fl.BoolVar(&f.keepShared, "keep-shared", false, "do not quantize layers with shared weights (AMCT's rule) instead of copying the weight")
	fl.BoolVar(&f.fold, "fold", false, "fold the balance into the producer of the activation where exact, instead of a Mul")
	fl.BoolVar(&f.joint, "joint", false, "one set of balance factors for all layers reading the same tensor (lets --fold fold more)")
	fl.StringVar(&f.alpha, "alpha", "", `"auto": choose no balance or a migration strength 0, 0.05, ..., 0.95 per layer (per tensor with --joint) by the error of its quantized output, in place of the config's dmq_balancer`)
	fl.BoolVar(&f.noEval, "no-eval", false, "skip the SQNR evaluation")
	fl.IntVar(&f.evalBatches, "eval-batches", 0, "batches the SQNR evaluation runs, from the first calibration batch (default: a twentieth of the samples, so that it costs about a tenth of the flow: one batch in 20, or with fewer batches the first samples of the first when the model's batch dimension is dynamic)")
	fl.BoolVar(&f.biasCorrect, "bias-correct", false, "shift each layer's bias by the mean error of its quantized output, where that lowers the error on held-out calibration samples")
	fl.BoolVar(&f.noReport, "no-report", false, "do not write the report (<out>_report.json, .md and plots)")
	f.backend.add(fl, "sim")
	fl.StringVar(&f.precision, "precision", "", "also evaluate the deploy model on sim as the NPU computes it in this ATC precision mode (force_fp16, force_fp32, must_keep_origin_dtype, allow_fp32_to_fp16)")
	for _, r := range []string{"model", "data", "out"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}

func runQuantize(ctx context.Context, stdout, stderr io.Writer, prog *progress, f *quantizeFlags, batchNumSet bool) error {
	if batchNumSet && f.batchNum < 1 {
		return fmt.Errorf("--batch-num %d: must be at least 1", f.batchNum)
	}
	if f.evalBatches < 0 {
		return fmt.Errorf("--eval-batches %d: must be at least 1", f.evalBatches)
	}
	alpha, err := alphaFlag(f.alpha)
	if err != nil {
		return err
	}
	if err := checkOutput(f.out); err != nil {
		return err
	}
	release, err := lockOutput(f.out, true, stderr)
	if err != nil {
		return err
	}
	defer release()
	b, err := f.backend.open()
	if err != nil {
		return err
	}
	board, err := f.boardCheck()
	if err != nil {
		return err
	}
	loaded := prog.phase("load " + f.model)
	// float16 weights stay 16-bit: quant widens one layer's at a time.
	m, err := onnx.LoadFileHalves(f.model)
	if err != nil {
		return err
	}
	loaded()
	var simple *configpb.AMCTConfig
	if f.config != "" {
		if simple, err = quant.LoadSimpleConfig(f.config); err != nil {
			return err
		}
	}
	data, err := f.data.open(m.Graph, stderr)
	if err != nil {
		return err
	}
	defer data.Close()
	n := f.batchNum
	if !batchNumSet && (simple == nil || simple.BatchNum == nil) {
		n = data.Len()
	}
	opt := quant.QuantizeOptions{
		Simple: simple, Skip: f.skip, BatchNum: n,
		KeepShared: f.keepShared, Fold: f.fold, Joint: f.joint, NoEval: f.noEval, EvalBatches: f.evalBatches, Alpha: alpha,
		BiasCorrect: f.biasCorrect, Progress: prog.step, Board: board,
	}
	var reportFiles []string
	if !f.noReport {
		opt.BeforeCommit = reportHook(f.out, f.model, f.backend.name, &reportFiles)
	}
	rep, err := quant.RunFlowContext(ctx, m, b, data, f.out, opt)
	prog.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	fmt.Fprintf(stdout, "%s: %d layers quantized on %d batches of %d samples (backend %s)\n\n",
		f.model, len(rep.Layers), rep.Batches, data.Size, f.backend.name)
	printSummary(stdout, rep)
	fmt.Fprintf(stdout, "\nwrote %s\nwrote %s\nwrote %s\nwrote %s\n", rep.FakeQuantPath, rep.DeployPath, rep.ConfigPath, rep.RecordPath)
	for _, p := range reportFiles {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	return nil
}

// boardCheck opens sim in the --precision mode for the board check; nil
// without --precision.
func (f *quantizeFlags) boardCheck() (*quant.BoardCheck, error) {
	p, err := backend.ParsePrecision(f.precision)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--precision: %w", err)
	case p == backend.PrecisionDefault:
		return nil, nil
	case f.noEval:
		return nil, fmt.Errorf("--precision evaluates the deploy model: it cannot go with --no-eval")
	case f.backend.name != "sim":
		return nil, fmt.Errorf("--precision evaluates on sim, which emulates the mode; with --backend %s the board itself computes in ATC's mode", f.backend.name)
	}
	b, err := backend.Open("sim", backend.Options{Threads: f.backend.threads, Precision: p})
	if err != nil {
		return nil, err
	}
	return &quant.BoardCheck{Precision: p, Backend: b}, nil
}

// printSummary writes the per-layer table, the output SQNR, the excluded
// layers with their reasons and the warnings.
func printSummary(w io.Writer, rep *quant.QuantizeReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\ttype\tbalance\tscale_d\toffset_d\tscale_w\tSQNR (dB)")
	for _, l := range rep.Layers {
		bal := l.Balance.String()
		if l.Alpha != nil {
			bal += " (α " + l.Alpha.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.6g\t%d\t%s\t%s\n", l.Name, l.Type, bal, l.ScaleD, l.OffsetD, report.FormatScaleW(l.ScaleW), report.FormatSQNR(l.SQNR))
	}
	tw.Flush()
	for _, l := range rep.Layers {
		if l.Alpha != nil && l.Alpha.Output != nil {
			fmt.Fprintln(w, l.Alpha.Output) // shared by every searched layer
			break
		}
	}
	printFused(w, rep.Fused)
	printBiasCorrection(w, rep.Layers)
	on := "the calibration data"
	switch {
	case rep.EvalSamples > 0 && rep.EvalSamples < rep.BatchSize:
		on = fmt.Sprintf("the first %d of %d calibration samples; --eval-batches 1 for the first batch", rep.EvalSamples, rep.Batches*rep.BatchSize)
	case rep.EvalBatches < rep.Batches:
		on = fmt.Sprintf("the first %d of %d calibration batches; --eval-batches for more", rep.EvalBatches, rep.Batches)
	}
	for _, o := range rep.OutputNames {
		if db, ok := rep.Outputs[o]; ok {
			fmt.Fprintf(w, "output %s: SQNR %s dB (fake-quant vs float on %s)\n", o, report.FormatSQNR(db), on)
		}
	}
	for _, l := range rep.Layers {
		for _, n := range l.Notes {
			fmt.Fprintf(w, "note: %s: %s\n", l.Name, n)
		}
		if l.Balance.Note != "" {
			fmt.Fprintf(w, "note: %s: balance not folded: %s\n", l.Name, l.Balance.Note)
		}
	}
	if len(rep.Excluded) > 0 {
		fmt.Fprintf(w, "not quantized (%d):\n", len(rep.Excluded))
		for _, e := range rep.Excluded {
			fmt.Fprintf(w, "  %s (%s): %s\n", e.Layer, e.Type, e.Rule)
		}
	}
	for _, s := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	printBoard(w, rep)
}

// printBiasCorrection says, per layer, whether its bias correction was
// kept and the error it changed on the held-out calibration samples.
func printBiasCorrection(w io.Writer, layers []quant.LayerReport) {
	for _, l := range layers {
		c := l.BiasCorrection
		if c == nil {
			continue
		}
		verdict := "kept"
		if !c.Kept {
			verdict = "not kept"
		}
		fmt.Fprintf(w, "bias correction: %s: %s, MSE %.4g -> %.4g on %d held-out samples\n", l.Name, verdict, c.MSEBefore, c.MSEAfter, c.HeldOutSamples)
	}
}

// alphaFlag reads --alpha: empty (the config's balance) or "auto" (the
// per-layer α search with its default settings).
func alphaFlag(v string) (*quant.AlphaSearch, error) {
	switch v {
	case "":
		return nil, nil
	case "auto":
		return quant.DefaultAlphaSearch(), nil
	}
	return nil, fmt.Errorf("--alpha %q: want \"auto\" (a fixed migration strength comes from the config's dmq_balancer)", v)
}

// printFused names the Convs that absorbed a BatchNormalization (do_fusion).
func printFused(w io.Writer, fused []string) {
	if len(fused) > 0 {
		fmt.Fprintf(w, "fused BatchNormalization into: %s\n", strings.Join(fused, ", "))
	}
}
