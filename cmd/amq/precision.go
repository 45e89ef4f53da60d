package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"amq/backend"
	"amq/quant"
	"amq/report"
)

// addPrecision registers --precision, the ATC precision mode, for the
// commands that run models to see what the NPU computes (run, validate,
// quantize).
func (f *backendFlags) addPrecision(fl *pflag.FlagSet) {
	var names []string
	for _, p := range backend.Precisions() {
		names = append(names, string(p))
	}
	fl.StringVar(&f.precision, "precision", "", "ATC precision mode: sim emulates it, the ascend backend compiles with it ("+
		strings.Join(names, ", ")+"; default: float32 in sim, ATC's own default on the NPU)")
}

// reportFP16 prints what float16 did in a run of runner r under mode p:
// every tensor that overflowed or flushed to zero in bulk, by node, or
// that none did. It prints nothing for the default mode or a runner that
// does not count (an NPU).
func reportFP16(w io.Writer, who string, p backend.Precision, r backend.Runner) {
	rep, ok := r.(backend.FP16Reporter)
	if p == backend.PrecisionDefault || !ok {
		return
	}
	printFP16(w, fmt.Sprintf("%s, %s", who, p), rep.FP16Stats())
}

// printFP16 lists the flagged tensors of stats under the heading label.
func printFP16(w io.Writer, label string, stats []backend.FP16Stat) {
	if len(stats) == 0 {
		fmt.Fprintf(w, "fp16 (%s): no operator computes in float16\n", label)
		return
	}
	var bad []backend.FP16Stat
	peak := stats[0]
	for _, s := range stats {
		if s.Flagged() {
			bad = append(bad, s)
		}
		if s.MaxAbs > peak.MaxAbs {
			peak = s
		}
	}
	if len(bad) == 0 {
		fmt.Fprintf(w, "fp16 (%s): no value overflows float16 or flushes to zero in bulk; largest |x| %.4g (%s, %s)\n",
			label, peak.MaxAbs, peak.Tensor, peak.Node)
		return
	}
	fmt.Fprintf(w, "fp16 (%s): %d tensor(s) overflow float16 (|x| > 65504 becomes inf) or flush to zero in bulk:\n", label, len(bad))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  node\top\ttensor\tvalues\toverflow\tto zero\tmax |x|")
	for _, s := range bad {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%.4g\n", s.Node, s.OpType, s.Tensor, s.Elements, s.Overflow, s.Underflow, s.MaxAbs)
	}
	tw.Flush()
}

// printBoard prints the board check of a quantize run: the SQNR the NPU
// would give in the precision mode, and what overflows float16 before and
// after the balance and quantization.
func printBoard(w io.Writer, rep *quant.QuantizeReport) {
	b := rep.Board
	if b == nil {
		return
	}
	fmt.Fprintf(w, "on the NPU in %s (sim emulating ATC's precision mode, against the float model in float32):\n", b.Precision)
	for _, o := range rep.OutputNames {
		if db, ok := b.Outputs[o]; ok {
			fmt.Fprintf(w, "  output %s: SQNR %s dB (deploy model), %s dB (float model)\n", o, report.FormatSQNR(db), report.FormatSQNR(b.FloatOutputs[o]))
		}
	}
	for _, l := range rep.Layers {
		if db, ok := b.Layers[l.Name]; ok {
			fmt.Fprintf(w, "  layer %s: SQNR %s dB (float32: %s dB)\n", l.Name, report.FormatSQNR(db), report.FormatSQNR(l.SQNR))
		}
	}
	printFP16(w, fmt.Sprintf("%s, float model, before the balance", b.Precision), boardStats(b.Before, b.PeakBefore))
	printFP16(w, fmt.Sprintf("%s, deploy model, after the balance", b.Precision), boardStats(b.After, b.PeakAfter))
}

// boardStats is what printFP16 needs of a flagged list and its peak: the
// peak is listed when nothing is flagged, so that the headroom shows.
func boardStats(bad []backend.FP16Stat, peak backend.FP16Stat) []backend.FP16Stat {
	if len(bad) > 0 || peak.Tensor == "" {
		return bad
	}
	return []backend.FP16Stat{peak}
}
