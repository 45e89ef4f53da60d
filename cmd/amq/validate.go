package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"amq/backend"
	"amq/onnx"
)

func init() { subcommands = append(subcommands, newValidateCmd) }

// validateFlags are the settings of amq validate.
type validateFlags struct {
	model   string
	data    []string
	backend backendFlags // the backend under test, and the device/thread settings of both
	against string
	layers  bool
	tol     float64
}

func newValidateCmd() *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate --model M_deploy_model.onnx --data x.npy [--backend ascend --against sim] [--layers] [--tol 1e-3]",
		Short: "Run a model on two backends and compare their outputs",
		Long: `Validate runs the same inputs through two backends (by default the NPU
and sim) and prints, for every graph output, the largest absolute error,
the relative error (largest absolute error over the largest reference
magnitude) and the cosine similarity. With --layers it also compares every
quantized layer: the output of each AscendDequant, and the share of int8
codes that differ at each AscendQuant.

It exits non-zero when an output (or, with --layers, a dequantized layer
output) differs by more than --tol in absolute value.

--precision gives both backends ATC's precision mode: the ascend backend
compiles with it and sim emulates it, so that a board's float16 results
are compared with what float16 computes rather than with float32; sim then
lists every node whose values overflow float16 or flush to zero in bulk.
Without it the board computes in ATC's default, force_fp16, and sim in
float32.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return validate(cmd.OutOrStdout(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "ONNX model (e.g. AMCT's or amq's *_deploy_model.onnx; required)")
	fl.StringArrayVar(&f.data, "data", nil, "input as name=path.npy, path.npy (first input) or path.npz; repeatable")
	f.backend.add(fl, "ascend")
	f.backend.addPrecision(fl)
	fl.StringVar(&f.against, "against", "sim", "reference backend")
	fl.BoolVar(&f.layers, "layers", false, "also compare each AscendQuant/AscendDequant output")
	fl.Float64Var(&f.tol, "tol", 1e-3, "largest allowed absolute error")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("data")
	return cmd
}

// diffStats compares a tensor with its reference.
type diffStats struct {
	name, kind     string
	maxAbs, maxRel float64
	cosine         float64
	codeDiff       float64 // share of differing int8 codes (AscendQuant), else -1
}

func compareTensors(name, kind string, got, ref *onnx.Tensor) (diffStats, error) {
	st := diffStats{name: name, kind: kind, codeDiff: -1}
	if fmt.Sprint(got.Shape) != fmt.Sprint(ref.Shape) {
		return st, fmt.Errorf("tensor %q: shape %v, reference %v", name, got.Shape, ref.Shape)
	}
	a, err := got.Float64s()
	if err != nil {
		return st, fmt.Errorf("tensor %q: %w", name, err)
	}
	b, err := ref.Float64s()
	if err != nil {
		return st, fmt.Errorf("tensor %q: %w", name, err)
	}
	var dot, na, nb, refMax float64
	diffCodes := 0
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if a[i] == b[i] {
			d = 0 // equal infinities (a float16 overflow on both sides) agree
		}
		if d > st.maxAbs || math.IsNaN(d) {
			st.maxAbs = d
		}
		if a[i] != b[i] {
			diffCodes++
		}
		refMax = math.Max(refMax, math.Abs(b[i]))
		// float64(): the same sums on every architecture (no FMA).
		dot += float64(a[i] * b[i])
		na += float64(a[i] * a[i])
		nb += float64(b[i] * b[i])
	}
	st.maxRel = st.maxAbs / math.Max(refMax, 1e-12)
	switch {
	case na == 0 && nb == 0:
		st.cosine = 1
	case na == 0 || nb == 0:
		st.cosine = 0
	default:
		st.cosine = dot / math.Sqrt(na*nb)
	}
	if kind == "AscendQuant" && len(a) > 0 {
		st.codeDiff = float64(diffCodes) / float64(len(a))
	}
	return st, nil
}

func validate(w io.Writer, f *validateFlags) error {
	if f.backend.name == f.against {
		return fmt.Errorf("--backend and --against are both %q", f.against)
	}
	opt, err := f.backend.options()
	if err != nil {
		return err
	}
	model, err := onnx.LoadFile(f.model)
	if err != nil {
		return err
	}
	inputs, err := readRunInputs(model.Graph, f.data)
	if err != nil {
		return err
	}
	kinds := map[string]string{}
	var observe []string
	if f.layers {
		for _, n := range model.Graph.Nodes {
			if n.Domain == "" && (n.OpType == "AscendQuant" || n.OpType == "AscendDequant") && len(n.Outputs) > 0 {
				kinds[n.Outputs[0]] = n.OpType
				observe = append(observe, n.Outputs[0])
			}
		}
	}
	var fp16 bytes.Buffer // what float16 did, printed after the table
	run := func(name string) (map[string]*onnx.Tensor, error) {
		b, err := openBackend(name, opt)
		if err != nil {
			return nil, err
		}
		r, err := b.Prepare(model, observe)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out, err := r.Run(inputs)
		if err == nil {
			reportFP16(&fp16, name, opt.Precision, r)
		}
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
	got, err := run(f.backend.name)
	if err != nil {
		return err
	}
	ref, err := run(f.against)
	if err != nil {
		return err
	}
	var stats []diffStats
	for _, o := range model.Graph.Outputs {
		kinds[o.Name] = "output"
	}
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (kinds[names[i]] == "output") != (kinds[names[j]] == "output") {
			return kinds[names[i]] == "output"
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		g, r := got[n], ref[n]
		if g == nil || r == nil {
			return fmt.Errorf("tensor %q missing from the results of %s or %s", n, f.backend.name, f.against)
		}
		st, err := compareTensors(n, kinds[n], g, r)
		if err != nil {
			return err
		}
		stats = append(stats, st)
	}
	fmt.Fprintf(w, "%s vs %s, tolerance %g (max abs)", f.backend.name, f.against, f.tol)
	if opt.Precision != backend.PrecisionDefault {
		fmt.Fprintf(w, ", precision mode %s", opt.Precision)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-13s %-40s %12s %12s %10s %s\n", "kind", "tensor", "max abs", "max rel", "cosine", "int8 codes differing")
	var bad []string
	for _, s := range stats {
		codes := ""
		if s.codeDiff >= 0 {
			codes = fmt.Sprintf("%.4f%%", 100*s.codeDiff)
		}
		fmt.Fprintf(w, "%-13s %-40s %12.4g %12.4g %10.6f %s\n", s.kind, s.name, s.maxAbs, s.maxRel, s.cosine, codes)
		if s.kind != "AscendQuant" && !(s.maxAbs <= f.tol) {
			bad = append(bad, fmt.Sprintf("%s (%.4g)", s.name, s.maxAbs))
		}
	}
	w.Write(fp16.Bytes())
	if len(bad) > 0 {
		return fmt.Errorf("%d tensor(s) differ by more than %g: %s", len(bad), f.tol, strings.Join(bad, ", "))
	}
	fmt.Fprintln(w, "ok: within tolerance")
	return nil
}
