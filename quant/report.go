package quant

import (
	"math"
	"slices"
	"time"
)

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
	// first EvalBatches calibration batches (empty with NoEval).
	Outputs map[string]float64
	// OutputNames lists the graph outputs in model order.
	OutputNames []string
	// Batches is the number of batches the calibration steps used.
	Batches int
	// EvalBatches is the number of those batches, from the first, the SQNR
	// evaluation ran (0 with NoEval).
	EvalBatches int
	// EvalSamples is the number of samples in those batches, fewer than
	// a batch when the evaluation took the first samples of the first
	// (DefaultEvalSamples).
	EvalSamples int
	// BatchSize is the number of samples per batch: axis 0 of the first
	// input (by name) of the first batch; 0 when no batch was read.
	BatchSize int
	// Joint and Fold are the balance options of the run.
	Joint, Fold bool
	// Phases are the wall times of the steps that ran, in order:
	// "prepare", "preprocess" (with DMQ), "search" (with the α search),
	// "calibrate", "bias-correct" (with BiasCorrect), "write", "evaluate"
	// (unless NoEval).
	Phases []Phase
	// Warnings are conditions worth a look that did not stop the run.
	Warnings []string
	// Fused lists the Conv layers a BatchNormalization was folded into
	// (do_fusion), in graph order.
	Fused []string
	// Board is the deploy model evaluated as the NPU computes it
	// (QuantizeOptions.Board); nil without that check.
	Board *BoardReport
}

// LayerReport is one quantized layer's line of the summary.
type LayerReport struct {
	Name string
	Type string
	// Balance is how the DMQ factors were applied, as ApplyBalance
	// reported it; the zero value (Kind "") for a layer without balance.
	// Its String method gives the summary's spelling.
	Balance BalanceAction
	ScaleD  float32
	OffsetD int32
	ScaleW  []float32 // one, or one per output channel
	// SQNR is 10*log10(sum y^2 / sum (y - y_q)^2) in dB for the layer's
	// output y in the float model and y_q in the fake-quant model, over the
	// first EvalBatches calibration batches; +Inf when identical, NaN with
	// NoEval.
	SQNR float64
	// Notes are FindLayers' remarks (such as a private copy of a shared
	// weight).
	Notes []string
	// BalanceStats are the maxima behind the layer's balance factors; nil
	// for a layer without balance.
	BalanceStats *BalanceStats
	// Alpha is what the α search chose for the layer, with every
	// candidate's error; nil for a layer it did not search.
	Alpha *AlphaChoice
	// Histogram summarizes the activation histogram the layer was
	// calibrated from, with its clip range; nil when its calibrator keeps
	// none.
	Histogram *ActHistogram
	// BiasCorrection is what bias correction found and whether it was
	// kept; nil without QuantizeOptions.BiasCorrect.
	BiasCorrection *BiasCorrection
}

// Phase is the wall time of one step of RunFlow.
type Phase struct {
	Name string
	Time time.Duration
}

// String says how a layer was balanced, as amq's summary prints it: "none",
// "Mul" (an inserted Mul by 1/s, as AMCT does), or "folded into <node>".
func (a BalanceAction) String() string {
	switch a.Kind {
	case "":
		return "none"
	case BalanceMul:
		return "Mul"
	}
	return "folded into " + a.Node
}

// The file names RunFlow gives the config and record after the prefix.
const (
	configSuffix = "_quant_config.json"
	recordSuffix = "_record.txt"
)

// newReport describes what RunFlow wrote for p under prefix, with the
// statistics of the factors, before the evaluation fills in the SQNR.
func newReport(prefix string, p *Prepared, f *factors, srep *SaveReport) *QuantizeReport {
	rec := f.rec
	rep := &QuantizeReport{
		FakeQuantPath: prefix + fakeQuantSuffix,
		DeployPath:    prefix + deploySuffix,
		ConfigPath:    prefix + configSuffix,
		RecordPath:    prefix + recordSuffix,
		Config:        p.Config,
		Record:        rec,
		Excluded:      mergeExclusions(p.Excluded, srep.Skipped),
		Outputs:       map[string]float64{},
		Batches:       p.Config.BatchNum,
		Warnings:      srep.Warnings,
		Fused:         p.Fused,
	}
	for _, o := range p.Model.Graph.Outputs {
		rep.OutputNames = append(rep.OutputNames, o.Name)
	}
	how := map[string]BalanceAction{}
	if srep.Balance != nil {
		for _, a := range srep.Balance.Layers {
			how[a.Layer] = a
		}
	}
	for _, l := range p.Layers {
		r := rec[l.Name]
		rep.Layers = append(rep.Layers, LayerReport{Name: l.Name, Type: l.Type, Balance: how[l.Name],
			ScaleD: r.ScaleD, OffsetD: r.OffsetD, ScaleW: slices.Clone(r.ScaleW), SQNR: math.NaN(), Notes: l.Notes,
			BalanceStats: f.balance[l.Name], Alpha: f.choices[l.Name], Histogram: f.hists[l.Name], BiasCorrection: f.bias[l.Name]})
	}
	return rep
}
