package report

import (
	"fmt"
	"io"

	"amq/backend"
	"amq/quant"
)

// Board is the deploy model evaluated as the NPU computes it in an ATC
// precision mode (amq quantize --precision; quant.BoardReport).
type Board struct {
	Precision string        `json:"precision"`
	Outputs   []BoardOutput `json:"outputs"`
	// Layers is each quantized layer's output SQNR in the deploy model
	// computed in the mode, in graph order.
	Layers []Output `json:"layers"`
	// Before and After list the tensors that overflow float16 or flush to
	// zero in bulk in the float model and in the deploy model; the peaks
	// are the tensors with the largest |x|.
	Before     []FP16 `json:"fp16_before"`
	After      []FP16 `json:"fp16_after"`
	PeakBefore *FP16  `json:"peak_before,omitempty"`
	PeakAfter  *FP16  `json:"peak_after,omitempty"`
}

// BoardOutput is a graph output's SQNR in the mode: the deploy model's and
// the float model's, against the float model in float32.
type BoardOutput struct {
	Name      string `json:"name"`
	SQNR      Number `json:"sqnr_db"`
	FloatSQNR Number `json:"float_sqnr_db"`
}

// FP16 is what float16 did to one tensor (backend.FP16Stat).
type FP16 struct {
	Node      string  `json:"node"`
	OpType    string  `json:"op_type"`
	Tensor    string  `json:"tensor"`
	Values    int64   `json:"values"`
	Overflow  int64   `json:"overflow"`
	Underflow int64   `json:"underflow"`
	MaxAbs    float64 `json:"max_abs"`
}

// newBoard is the report's form of b; nil for nil.
func newBoard(b *quant.BoardReport, rep *quant.QuantizeReport) *Board {
	if b == nil {
		return nil
	}
	r := &Board{Precision: string(b.Precision), Outputs: []BoardOutput{}, Layers: []Output{},
		Before: fp16List(b.Before), After: fp16List(b.After), PeakBefore: fp16Peak(b.PeakBefore), PeakAfter: fp16Peak(b.PeakAfter)}
	for _, o := range rep.OutputNames {
		if db, ok := b.Outputs[o]; ok {
			r.Outputs = append(r.Outputs, BoardOutput{o, Number(db), Number(b.FloatOutputs[o])})
		}
	}
	for _, l := range rep.Layers {
		if db, ok := b.Layers[l.Name]; ok {
			r.Layers = append(r.Layers, Output{l.Name, Number(db)})
		}
	}
	return r
}

func fp16List(stats []backend.FP16Stat) []FP16 {
	out := []FP16{}
	for _, s := range stats {
		out = append(out, FP16{s.Node, s.OpType, s.Tensor, s.Elements, s.Overflow, s.Underflow, s.MaxAbs})
	}
	return out
}

func fp16Peak(s backend.FP16Stat) *FP16 {
	if s.Tensor == "" {
		return nil
	}
	return &fp16List([]backend.FP16Stat{s})[0]
}

// mdBoard writes the section on the NPU's numerics, when the run checked
// them.
func mdBoard(w io.Writer, r *Report) {
	b := r.Board
	if b == nil {
		return
	}
	fmt.Fprintf(w, "## On the NPU in %s\n\n", b.Precision)
	fmt.Fprintf(w, "sim emulating ATC's precision mode %s (docs/design.md \"NPU numerics\"), against the float model in float32, on the calibration data.\n\n", b.Precision)
	if len(b.Outputs) > 0 {
		fmt.Fprintf(w, "| output | SQNR, deploy model (dB) | SQNR, float model (dB) |\n|---|---:|---:|\n")
		for _, o := range b.Outputs {
			fmt.Fprintf(w, "| `%s` | %s | %s |\n", o.Name, FormatSQNR(float64(o.SQNR)), FormatSQNR(float64(o.FloatSQNR)))
		}
		fmt.Fprintln(w)
	}
	if len(b.Layers) > 0 {
		fmt.Fprintf(w, "| layer | SQNR on the NPU (dB) |\n|---|---:|\n")
		for _, l := range b.Layers {
			fmt.Fprintf(w, "| `%s` | %s |\n", l.Name, FormatSQNR(float64(l.SQNR)))
		}
		fmt.Fprintln(w)
	}
	mdFP16(w, "float model, before the balance and quantization", b.Before, b.PeakBefore)
	mdFP16(w, "deploy model, after the balance and quantization", b.After, b.PeakAfter)
}

// mdFP16 lists the tensors of one model that overflow float16 or flush to
// zero in bulk, or says that none does and how close the largest comes.
func mdFP16(w io.Writer, which string, bad []FP16, peak *FP16) {
	if len(bad) == 0 {
		fmt.Fprintf(w, "- %s: no tensor overflows float16 or flushes to zero in bulk", which)
		if peak != nil {
			fmt.Fprintf(w, "; the largest |x| is %.4g (`%s` of `%s`, %.2g%% of 65504)", peak.MaxAbs, peak.Tensor, peak.Node, 100*peak.MaxAbs/65504)
		}
		fmt.Fprintf(w, ".\n\n")
		return
	}
	fmt.Fprintf(w, "- %s: %d tensor(s) overflow float16 (|x| > 65504 becomes inf) or flush to zero in bulk:\n\n", which, len(bad))
	fmt.Fprintf(w, "| node | op | tensor | values | overflow | to zero | max \\|x\\| |\n|---|---|---|---:|---:|---:|---:|\n")
	for _, s := range bad {
		fmt.Fprintf(w, "| `%s` | %s | `%s` | %d | %d | %d | %.4g |\n", s.Node, s.OpType, s.Tensor, s.Values, s.Overflow, s.Underflow, s.MaxAbs)
	}
	fmt.Fprintln(w)
}
