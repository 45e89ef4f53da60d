package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// markdown returns <name>_report.md of r: the run, its times, the layers
// with their factors and SQNR, the balance and the figures f. It depends on
// r and f alone, so that amq report makes the same bytes from the JSON.
func markdown(r *Report, f figures) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# amq quantization report: %s\n\n", r.Name)
	mdRun(&b, r)
	mdPhases(&b, r)
	mdOutputs(&b, r)
	mdBoard(&b, r)
	mdLayers(&b, r, f.sqnr)
	mdBalance(&b, r, f.balance)
	mdBiasCorrection(&b, r)
	mdHistograms(&b, r, f.histogram)
	mdExcluded(&b, r)
	return b.Bytes()
}

func mdRun(w io.Writer, r *Report) {
	fmt.Fprintf(w, "- command: `%s`\n", shellJoin(r.Command))
	fmt.Fprintf(w, "- amq %s, %s; report made %s\n", r.Tool.AMQ, r.Tool.Go, r.Created)
	if r.Model != "" {
		fmt.Fprintf(w, "- model: `%s`", r.Model)
		if r.Backend != "" {
			fmt.Fprintf(w, ", backend %s", r.Backend)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "- calibration: %s of %s (every step used the same batches)\n", plural(r.Batches, "batch", "batches"), plural(r.BatchSize, "sample", "samples"))
	switch {
	case r.EvalSamples > 0 && r.EvalSamples < r.BatchSize:
		fmt.Fprintf(w, "- SQNR evaluation: the first %s of the first batch\n", plural(r.EvalSamples, "sample", "samples"))
	case r.EvalBatches > 0:
		fmt.Fprintf(w, "- SQNR evaluation: the first %s\n", plural(r.EvalBatches, "batch", "batches"))
	}
	fmt.Fprintf(w, "- outputs: `%s`, `%s`, `%s`, `%s`\n", filepath.Base(r.Files.FakeQuant), filepath.Base(r.Files.Deploy), filepath.Base(r.Files.Config), filepath.Base(r.Files.Record))
	fmt.Fprintf(w, "- quant config: batch_num %d, activation_offset %v, do_fusion %v", r.Config.BatchNum, r.Config.ActivationOffset, r.Config.DoFusion)
	if len(r.Config.SkipFusionLayers) > 0 {
		fmt.Fprintf(w, ", skip_fusion_layers %s", strings.Join(r.Config.SkipFusionLayers, ", "))
	}
	fmt.Fprintln(w)
	if len(r.Fused) > 0 {
		fmt.Fprintf(w, "- BatchNormalization fused into: %s\n", codeList(r.Fused))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "- **warning**: %s\n", s)
	}
	fmt.Fprintln(w)
}

func mdPhases(w io.Writer, r *Report) {
	if len(r.Phases) == 0 {
		return
	}
	fmt.Fprintf(w, "## Time\n\n| phase | seconds |\n|---|---:|\n")
	total := 0.0
	for _, p := range r.Phases {
		fmt.Fprintf(w, "| %s | %.3f |\n", p.Name, p.Seconds)
		total += p.Seconds
	}
	fmt.Fprintf(w, "| total | %.3f |\n\n", total)
}

func mdOutputs(w io.Writer, r *Report) {
	if len(r.Outputs) == 0 {
		return
	}
	fmt.Fprintf(w, "## Graph outputs\n\nSQNR of the fake-quant model's output against the float model's, on the calibration data.\n\n")
	fmt.Fprintf(w, "| output | SQNR (dB) |\n|---|---:|\n")
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "| `%s` | %s |\n", o.Name, FormatSQNR(float64(o.SQNR)))
	}
	fmt.Fprintln(w)
}

func mdLayers(w io.Writer, r *Report, fig *figure) {
	fmt.Fprintf(w, "## Quantized layers (%d)\n\n", len(r.Layers))
	fmt.Fprintf(w, "Clip range: the activation range int8 represents, [(−128 − offset_d)·scale_d, (127 − offset_d)·scale_d]. SQNR: the layer's output in the fake-quant model against the float model, on the calibration data.\n\n")
	fmt.Fprintf(w, "| layer | type | act_algo | balance | α | scale_d | offset_d | clip range | scale_w | SQNR (dB) |\n|---|---|---|---|---|---:|---:|---|---|---:|\n")
	for _, l := range r.Layers {
		clip := "-"
		if h := l.Histogram; h != nil {
			clip = fmt.Sprintf("[%.4g, %.4g]", h.ClipLo, h.ClipHi)
		}
		algo := l.Params.ActAlgo
		if !l.Params.Asymmetric {
			algo += " (sym)"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %.6g | %d | %s | %s | %s |\n", l.Name, l.Type, algo, l.Balance, alphaString(l),
			l.ScaleD, l.OffsetD, clip, FormatScaleW(l.ScaleW), FormatSQNR(float64(l.SQNR)))
	}
	fmt.Fprintln(w)
	for _, l := range r.Layers {
		for _, n := range l.Notes {
			fmt.Fprintf(w, "- `%s`: %s\n", l.Name, n)
		}
		if l.BalanceNote != "" {
			fmt.Fprintf(w, "- `%s`: balance not folded: %s\n", l.Name, l.BalanceNote)
		}
		if h := l.Histogram; h != nil && h.Distinct > 0 {
			fmt.Fprintf(w, "- `%s`: calibrated on exact counts of its %s\n", l.Name, plural(h.Distinct, "distinct value", "distinct values"))
		}
	}
	mdOutputCheck(w, r.Layers)
	if fig != nil {
		fmt.Fprintf(w, "\n![%s](%s)\n", fig.alt, fig.file)
	}
	fmt.Fprintln(w)
}

// mdOutputCheck writes the α search's output check, which every searched
// layer shares, once: each plan's error and the plan kept.
func mdOutputCheck(w io.Writer, layers []Layer) {
	for _, l := range layers {
		if l.AlphaSearch == nil || l.AlphaSearch.OutputCheck == nil {
			continue
		}
		oc := l.AlphaSearch.OutputCheck
		var plans []string
		for _, p := range oc.Plans {
			if p.StoppedAfter > 0 {
				plans = append(plans, fmt.Sprintf("%s > %.3g (stopped after %d samples)", p.Name, float64(p.Error), p.StoppedAfter))
				continue
			}
			plans = append(plans, fmt.Sprintf("%s %.3g", p.Name, float64(p.Error)))
		}
		fmt.Fprintf(w, "\nα search, output check on %d calibration samples (error: Σ(float − quantized)² / Σ float² over the float outputs): %s; kept %s", oc.Samples, strings.Join(plans, ", "), oc.Chosen)
		if len(oc.Adopted) > 0 {
			fmt.Fprintf(w, " with the per-layer choice of %s (%.3g)", strings.Join(oc.Adopted, ", "), float64(oc.Error))
		}
		fmt.Fprintln(w, ".")
		return
	}
}

// alphaString is a layer's migration strength as the layers table shows
// it: the α search's choice ("none" or the strength, "(search)" added), the
// config's fixed strength, or "-" without balance.
func alphaString(l Layer) string {
	switch {
	case l.AlphaSearch != nil:
		return l.AlphaSearch.String() + " (search)"
	case l.Params.MigrationStrength > 0:
		return fmt.Sprintf("%g", l.Params.MigrationStrength)
	}
	return "-"
}

func mdBalance(w io.Writer, r *Report, figs []figure) {
	var rows []*Layer
	for i := range r.Layers {
		if r.Layers[i].DMQ != nil {
			rows = append(rows, &r.Layers[i])
		}
	}
	if len(rows) == 0 {
		return
	}
	bs := r.Balance
	fmt.Fprintf(w, "## Balance (DMQ)\n\n%s balanced: %d by an inserted Mul, %d folded into the producer", plural(bs.Layers, "layer", "layers"), bs.Mul, bs.Folded)
	var opts []string
	if bs.Joint {
		opts = append(opts, "joint factors")
	}
	if bs.Fold {
		opts = append(opts, "folding asked for")
	}
	if len(opts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(opts, ", "))
	}
	fmt.Fprintf(w, ". For input channel j, s_j = max|X_j|^α / max|W_j|^(1−α); the activation is divided by s_j and the weight multiplied by it. ")
	fmt.Fprintf(w, "Spread: max/median of max|X_j| over the channels, before → after.\n\n")
	fmt.Fprintf(w, "| layer | activation | α | channels | spread of max\\|X_j\\| | max\\|X\\| | max\\|W\\| | s_j |\n|---|---|---:|---:|---|---|---|---|\n")
	for _, l := range rows {
		d := l.DMQ
		fmt.Fprintf(w, "| `%s` | `%s` | %g | %d | %s → %s | %.4g → %.4g | %.4g → %.4g | %s |\n", l.Name, d.Tensor, d.MigrationStrength, len(d.XMax),
			ratioString(d.Spread), ratioString(d.SpreadBalanced), maxOf(d.XMax), maxOf(d.XMaxBalanced), maxOf(d.WMax), maxOf(d.WMaxBalanced), rangeString(l.BalanceFactor))
	}
	if len(figs) > 0 {
		fmt.Fprintf(w, "\nThe layers whose activation channels stand out most (one per activation tensor): max|X_j| and max|W_j| per channel before and after the balance.\n")
		for _, f := range figs {
			fmt.Fprintf(w, "\n![%s](%s)\n", f.alt, f.file)
		}
	}
	fmt.Fprintln(w)
}

func mdBiasCorrection(w io.Writer, r *Report) {
	var rows []*Layer
	for i := range r.Layers {
		if r.Layers[i].BiasCorrection != nil {
			rows = append(rows, &r.Layers[i])
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## Bias correction\n\n")
	fmt.Fprintf(w, "Per output channel, the mean of y_q − y (the layer's quantized output against the float layer on the same input) over the even calibration samples is subtracted from the bias; it is kept where it lowers the mean squared y_q − y over the odd samples.\n\n")
	fmt.Fprintf(w, "| layer | kept | MSE before | MSE after | largest \\|shift\\| | samples fit / held out |\n|---|---|---:|---:|---:|---|\n")
	for _, l := range rows {
		c := l.BiasCorrection
		kept := "no"
		if c.Kept {
			kept = "yes"
		}
		var most float64
		for _, v := range c.Shift {
			most = max(most, math.Abs(v))
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %.4g | %d / %d |\n", l.Name, kept, mseString(c.MSEBefore), mseString(c.MSEAfter), most, c.FitSamples, c.HeldOutSamples)
	}
	fmt.Fprintln(w)
}

// mseString formats a mean squared error: "-" for none.
func mseString(n Number) string {
	if math.IsNaN(float64(n)) {
		return "-"
	}
	return fmt.Sprintf("%.4g", float64(n))
}

func mdHistograms(w io.Writer, r *Report, fig *figure) {
	if fig == nil {
		return
	}
	fmt.Fprintf(w, "## Activation histograms\n\n")
	fmt.Fprintf(w, "The histogram each layer's activation was calibrated from (for a balanced layer, of X/s), for the layers with the lowest SQNR, one per tensor; the dashed lines mark the int8 range.\n\n")
	fmt.Fprintf(w, "![%s](%s)\n\n", fig.alt, fig.file)
}

func mdExcluded(w io.Writer, r *Report) {
	if len(r.Excluded) == 0 {
		return
	}
	fmt.Fprintf(w, "## Not quantized (%d)\n\n| layer | type | rule |\n|---|---|---|\n", len(r.Excluded))
	for _, e := range r.Excluded {
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", e.Layer, e.Type, e.Rule)
	}
	fmt.Fprintln(w)
}

// shellJoin quotes args for a POSIX shell where they need it.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=,:+@%", c))
		}) < 0 {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// codeList formats names as a comma-separated list of code spans.
func codeList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}

// FormatSQNR formats an SQNR in dB as amq prints it: "-" for none (NaN),
// "exact" for +Inf, else one decimal.
func FormatSQNR(db float64) string {
	switch {
	case math.IsNaN(db):
		return "-"
	case math.IsInf(db, 1):
		return "exact"
	}
	return fmt.Sprintf("%.1f", db)
}

// ratioString formats a spread.
func ratioString(n Number) string {
	v := float64(n)
	if math.IsInf(v, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.3g", v)
}

// FormatScaleW shows one weight scale as is and per-channel scales as
// their range and count.
func FormatScaleW(s []float32) string {
	if len(s) == 1 {
		return fmt.Sprintf("%.6g", s[0])
	}
	return rangeString(s) + fmt.Sprintf(" (%d ch)", len(s))
}

// rangeString is "lo..hi" of s, or "-" when empty.
func rangeString(s []float32) string {
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4g..%.4g", slices.Min(s), slices.Max(s))
}

// maxOf is the largest value of x, 0 when empty.
func maxOf(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	return slices.Max(x)
}

// plural is "1 batch", "2 batches".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
