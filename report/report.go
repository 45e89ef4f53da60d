// Package report writes what a quantization run did and saw, for people:
// <out>_report.json (every layer's parameters and factors, the balance
// statistics, SQNR, phase times, versions and the command line),
// <out>_report.md (tables and the plots) and PNG plots made with
// gonum.org/v1/plot. The JSON holds everything the Markdown and the plots
// are made from, so that they can be made again from it alone
// (Regenerate). Package quant exposes the data; this package only writes.
package report

import (
	"cmp"
	"math"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"amq/quant"
)

// Report is the document behind <out>_report.json.
type Report struct {
	// Name is the output prefix's file name (results/m gives "m"): the
	// report's files are Name + "_report.json" and so on.
	Name    string   `json:"name"`
	Tool    Tool     `json:"tool"`
	Command []string `json:"command"`
	// Created is when the report was made, RFC 3339 in UTC.
	Created string      `json:"created"`
	Model   string      `json:"model,omitempty"`
	Backend string      `json:"backend,omitempty"`
	Files   OutputFiles `json:"files"`
	// Batches of BatchSize samples were used by every calibration step;
	// the SQNR evaluation ran the first EvalBatches of them (0: without
	// the evaluation, or a report from before it was bounded).
	Batches     int `json:"batches"`
	BatchSize   int `json:"batch_size"`
	EvalBatches int `json:"eval_batches,omitempty"`
	// EvalSamples is the number of samples evaluated: fewer than a batch
	// when the evaluation took the first samples of the first batch.
	EvalSamples int        `json:"eval_samples,omitempty"`
	Phases      []Phase    `json:"phases"`
	Config      Config     `json:"config"`
	Balance     Balance    `json:"balance"`
	Outputs     []Output   `json:"outputs"`
	Layers      []Layer    `json:"layers"`
	Excluded    []Excluded `json:"excluded"`
	Fused       []string   `json:"fused"`
	Warnings    []string   `json:"warnings"`
	// Board is the NPU numerics check (amq quantize --precision).
	Board *Board `json:"board,omitempty"`
}

// Tool is the versions of what made the report.
type Tool struct {
	AMQ string `json:"amq"` // the main module's version and VCS state, from its build info
	Go  string `json:"go"`  // the Go release that built amq
}

// OutputFiles are the four outputs of the run, as the run named them.
type OutputFiles struct {
	FakeQuant string `json:"fake_quant_model"`
	Deploy    string `json:"deploy_model"`
	Config    string `json:"quant_config"`
	Record    string `json:"record"`
}

// Phase is the wall time of one step of the run.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Config is the quant config's global settings.
type Config struct {
	Version          int      `json:"version"`
	BatchNum         int      `json:"batch_num"`
	ActivationOffset bool     `json:"activation_offset"`
	DoFusion         bool     `json:"do_fusion"`
	SkipFusionLayers []string `json:"skip_fusion_layers"`
}

// Balance summarizes the DMQ balance of the run.
type Balance struct {
	Layers int  `json:"layers"` // balanced layers
	Mul    int  `json:"mul"`    // of them, balanced by an inserted Mul
	Folded int  `json:"folded"` // of them, folded into the producer
	Joint  bool `json:"joint"`  // one set of factors per tensor
	Fold   bool `json:"fold"`   // folding was asked for
}

// Output is one graph output's SQNR, fake-quant against float.
type Output struct {
	Name string `json:"name"`
	SQNR Number `json:"sqnr_db"`
}

// Excluded is a candidate layer that was not quantized, with its rule.
type Excluded struct {
	Layer string `json:"layer"`
	Type  string `json:"type"`
	Rule  string `json:"rule"`
}

// Layer is one quantized layer: its parameters, factors, SQNR and the
// statistics they came from.
type Layer struct {
	Name    string      `json:"name"`
	Type    string      `json:"type"`
	Params  LayerParams `json:"params"`
	ScaleD  float32     `json:"scale_d"`
	OffsetD int32       `json:"offset_d"`
	ScaleW  []float32   `json:"scale_w"`
	// BalanceFactor is the record's tensor_balance_factor.
	BalanceFactor []float32 `json:"balance_factor,omitempty"`
	// Balance says how the factors were applied: "none", "Mul" or
	// "folded into <node>"; BalanceNote why folding was not done.
	Balance     string   `json:"balance"`
	BalanceNote string   `json:"balance_note,omitempty"`
	SQNR        Number   `json:"sqnr_db"`
	Notes       []string `json:"notes,omitempty"`
	DMQ         *DMQ     `json:"dmq,omitempty"`
	// AlphaSearch is what amq's per-layer α search chose; absent for a
	// layer it did not search.
	AlphaSearch *AlphaSearch `json:"alpha_search,omitempty"`
	Histogram   *Histogram   `json:"histogram,omitempty"`
	// BiasCorrection is present when the run corrected biases.
	BiasCorrection *BiasCorrection `json:"bias_correction,omitempty"`
}

// BiasCorrection is what bias correction found for a layer (see
// quant.BiasCorrection).
type BiasCorrection struct {
	Kept bool `json:"kept"`
	// Shift is subtracted from the bias, per output channel, when kept.
	Shift []float64 `json:"shift"`
	// MSEBefore and MSEAfter are the mean squared difference between the
	// layer's quantized and float outputs on the held-out samples,
	// without and with the correction.
	MSEBefore Number `json:"mse_before"`
	MSEAfter  Number `json:"mse_after"`
	// FitSamples and HeldOutSamples count the samples the correction was
	// computed from and checked on.
	FitSamples     int64 `json:"fit_samples"`
	HeldOutSamples int64 `json:"held_out_samples"`
}

// AlphaSearch is the choice of the α search for a layer (see
// quant.AlphaChoice): no balance, or a migration strength, with the error
// of every candidate.
type AlphaSearch struct {
	None  bool    `json:"none"`
	Alpha float64 `json:"alpha"`
	// Layers are the layers chosen for together (with joint factors).
	Layers []string `json:"layers"`
	// Rows is the number of activation rows the candidates were
	// evaluated on.
	Rows       int              `json:"rows"`
	Candidates []AlphaCandidate `json:"candidates"`
	// Local is the candidate of least error at the layers' own outputs,
	// which the output check may have overruled.
	Local AlphaCandidate `json:"local"`
	// OutputCheck is the check of the plans at the model's outputs (the
	// same for every layer); absent when it did not run.
	OutputCheck *OutputCheck `json:"output_check,omitempty"`
}

// OutputCheck is the α search's check at the model's outputs (see
// quant.OutputCheck): the error of each plan on the first calibration
// samples, and the plan kept.
type OutputCheck struct {
	Samples int         `json:"samples"`
	Plans   []PlanError `json:"plans"`
	Chosen  string      `json:"chosen"`
	// Adopted are the layers whose per-layer choice replaced the chosen
	// uniform plan's, and Error the error of the plan kept.
	Adopted []string `json:"adopted,omitempty"`
	Error   Number   `json:"error"`
}

// PlanError is a plan of the output check and the sum over the float graph
// outputs of Σ(float − quantized)² / Σ float².
type PlanError struct {
	Name  string `json:"name"`
	Error Number `json:"error"`
	// StoppedAfter, when not 0, is the samples after which the plan was
	// stopped, its error so far ruling it out; Error is that error so far.
	StoppedAfter int `json:"stopped_after,omitempty"`
}

// AlphaCandidate is one candidate of the α search and the mean squared
// difference between the layers' quantized and float outputs with it.
type AlphaCandidate struct {
	None  bool    `json:"none"`
	Alpha float64 `json:"alpha"`
	MSE   Number  `json:"mse"`
	Note  string  `json:"note,omitempty"`
}

// String is "none" or the strength.
func (a *AlphaSearch) String() string {
	if a.None {
		return "none"
	}
	return strconv.FormatFloat(a.Alpha, 'g', -1, 64)
}

// LayerParams are the layer's settings in the quant config.
type LayerParams struct {
	ActAlgo           string      `json:"act_algo"`
	Asymmetric        bool        `json:"asymmetric"`
	MaxPercentile     float64     `json:"max_percentile,omitempty"`
	MinPercentile     float64     `json:"min_percentile,omitempty"`
	SearchRange       *[2]float64 `json:"search_range,omitempty"`
	SearchStep        float64     `json:"search_step,omitempty"`
	NumOfBins         int         `json:"num_of_bins,omitempty"`
	WtsAlgo           string      `json:"wts_algo"`
	ChannelWise       bool        `json:"channel_wise"`
	MigrationStrength float64     `json:"migration_strength,omitempty"`
}

// DMQ is what the balance of a layer saw: per-channel maxima before and
// after it.
type DMQ struct {
	Tensor            string  `json:"tensor"`
	MigrationStrength float64 `json:"migration_strength"`
	// XMax is max|X_j| per activation channel over the preprocess batches,
	// XMaxBalanced = XMax / s; WMax is max|W_j| per input channel of the
	// weight before the balance, WMaxBalanced = WMax · s.
	XMax         []float64 `json:"x_max"`
	XMaxBalanced []float64 `json:"x_max_balanced"`
	WMax         []float64 `json:"w_max"`
	WMaxBalanced []float64 `json:"w_max_balanced"`
	// Spread and SpreadBalanced are max/median of XMax and XMaxBalanced:
	// how far the largest channel stands out (+Inf when the median is 0).
	Spread         Number `json:"x_spread"`
	SpreadBalanced Number `json:"x_spread_balanced"`
}

// Histogram is the activation histogram the layer was calibrated from
// (at most quant.ActHistogramBins bins; see quant.ActHistogram).
type Histogram struct {
	Tensor string  `json:"tensor"`
	Algo   string  `json:"algo"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int64   `json:"n"`
	// Bin i counts the values in [Lo + i·Width, Lo + (i+1)·Width).
	Lo     float64 `json:"lo"`
	Width  float64 `json:"width"`
	Counts []int64 `json:"counts"`
	// ClipLo and ClipHi are (−128 − offset_d)·scale_d and
	// (127 − offset_d)·scale_d: the range int8 represents.
	ClipLo float64 `json:"clip_lo"`
	ClipHi float64 `json:"clip_hi"`
	// Distinct is the number of distinct values when scale_d and
	// offset_d came from exact counts of them, absent when they came from
	// the histogram.
	Distinct int `json:"distinct_values,omitempty"`
}

// Run is what the caller knows of a run that RunFlow does not.
type Run struct {
	Command []string  // the command line, os.Args
	Model   string    // the model's path
	Backend string    // the backend's name
	Created time.Time // when the report is made
}

// New makes the report of a RunFlow run written under prefix.
func New(rep *quant.QuantizeReport, prefix string, run Run) *Report {
	r := &Report{
		Name:        filepath.Base(prefix),
		Tool:        Versions(),
		Command:     slices.Clone(run.Command),
		Created:     run.Created.UTC().Format(time.RFC3339),
		Model:       run.Model,
		Backend:     run.Backend,
		Files:       OutputFiles{rep.FakeQuantPath, rep.DeployPath, rep.ConfigPath, rep.RecordPath},
		Batches:     rep.Batches,
		BatchSize:   rep.BatchSize,
		EvalBatches: rep.EvalBatches,
		EvalSamples: rep.EvalSamples,
		Balance:     Balance{Joint: rep.Joint, Fold: rep.Fold},
		Fused:       nonNil(rep.Fused),
		Warnings:    nonNil(rep.Warnings),
		Excluded:    []Excluded{},
		Board:       newBoard(rep.Board, rep),
	}
	for _, p := range rep.Phases {
		r.Phases = append(r.Phases, Phase{p.Name, p.Time.Seconds()})
	}
	if c := rep.Config; c != nil {
		r.Config = Config{c.Version, c.BatchNum, c.ActivationOffset, c.DoFusion, nonNil(c.SkipFusionLayers)}
	}
	for _, o := range rep.OutputNames {
		if db, ok := rep.Outputs[o]; ok {
			r.Outputs = append(r.Outputs, Output{o, Number(db)})
		}
	}
	for _, l := range rep.Layers {
		r.Layers = append(r.Layers, newLayer(l, rep))
		switch {
		case l.Balance.Kind == "":
		case l.Balance.Kind == quant.BalanceMul:
			r.Balance.Layers++
			r.Balance.Mul++
		default:
			r.Balance.Layers++
			r.Balance.Folded++
		}
	}
	for _, e := range rep.Excluded {
		r.Excluded = append(r.Excluded, Excluded(e))
	}
	return r
}

// newLayer is the report of one layer of rep.
func newLayer(l quant.LayerReport, rep *quant.QuantizeReport) Layer {
	out := Layer{
		Name: l.Name, Type: l.Type,
		ScaleD: l.ScaleD, OffsetD: l.OffsetD, ScaleW: slices.Clone(l.ScaleW),
		Balance: l.Balance.String(), BalanceNote: l.Balance.Note,
		SQNR: Number(l.SQNR), Notes: l.Notes,
	}
	if r := rep.Record[l.Name]; r != nil {
		out.BalanceFactor = slices.Clone(r.BalanceFactor)
	}
	if rep.Config != nil {
		if lc := rep.Config.Layers[l.Name]; lc != nil {
			out.Params = layerParams(lc)
		}
	}
	if s := l.BalanceStats; s != nil {
		d := &DMQ{Tensor: s.Tensor, MigrationStrength: s.Alpha,
			XMax: slices.Clone(s.XMax), XMaxBalanced: s.BalancedXMax(),
			WMax: slices.Clone(s.WMax), WMaxBalanced: s.BalancedWMax()}
		d.Spread, d.SpreadBalanced = Number(spread(d.XMax)), Number(spread(d.XMaxBalanced))
		out.DMQ = d
	}
	if c := l.BiasCorrection; c != nil {
		out.BiasCorrection = &BiasCorrection{Kept: c.Kept, Shift: nonNil(slices.Clone(c.Shift)), MSEBefore: Number(c.MSEBefore), MSEAfter: Number(c.MSEAfter),
			FitSamples: c.FitSamples, HeldOutSamples: c.HeldOutSamples}
	}
	if c := l.Alpha; c != nil {
		a := &AlphaSearch{None: c.None, Alpha: c.Alpha, Layers: slices.Clone(c.Layers), Rows: c.Rows}
		for _, x := range c.Candidates {
			a.Candidates = append(a.Candidates, AlphaCandidate{x.None, x.Alpha, Number(x.MSE), x.Note})
		}
		a.Local = AlphaCandidate{c.Local.None, c.Local.Alpha, Number(c.Local.MSE), c.Local.Note}
		if oc := c.Output; oc != nil {
			a.OutputCheck = &OutputCheck{Samples: oc.Samples, Chosen: oc.Chosen, Adopted: slices.Clone(oc.Adopted), Error: Number(oc.Error)}
			for _, p := range oc.Plans {
				a.OutputCheck.Plans = append(a.OutputCheck.Plans, PlanError{p.Name, Number(p.Error), p.StoppedAfter})
			}
		}
		out.AlphaSearch = a
	}
	if h := l.Histogram; h != nil {
		out.Histogram = &Histogram{Tensor: h.Tensor, Algo: h.Algo, Min: h.Min, Max: h.Max, N: h.N,
			Lo: h.Lo, Width: h.Width, Counts: nonNil(h.Counts), ClipLo: h.ClipLo, ClipHi: h.ClipHi, Distinct: h.Distinct}
	}
	return out
}

// layerParams are the settings of lc that apply to it.
func layerParams(lc *quant.LayerConfig) LayerParams {
	a, w := lc.Act, lc.Weight
	p := LayerParams{ActAlgo: a.Algo, Asymmetric: a.Asymmetric, WtsAlgo: w.Algo, ChannelWise: w.ChannelWise}
	switch a.Algo {
	case "ifmr":
		p.MaxPercentile, p.MinPercentile, p.SearchStep = a.MaxPercentile, a.MinPercentile, a.SearchStep
		sr := a.SearchRange
		p.SearchRange = &sr
	case "hfmg":
		p.NumOfBins = a.NumOfBins
	}
	if lc.DMQ != nil {
		p.MigrationStrength = lc.DMQ.MigrationStrength
	}
	return p
}

// spread is max/median of x: +Inf when the median is 0 and the maximum is
// not, 1 for an empty or all-zero x.
func spread(x []float64) float64 {
	if len(x) == 0 {
		return 1
	}
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	switch {
	case s[n-1] == 0:
		return 1
	case med == 0:
		return math.Inf(1)
	}
	return s[n-1] / med
}

// Versions returns amq's version as its build info gives it (the main
// module's version, with the VCS revision and a "+dirty" mark when the
// build recorded them) and the Go release.
func Versions() Tool {
	t := Tool{AMQ: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return t
	}
	t.AMQ = cmp.Or(bi.Main.Version, "(devel)")
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		t.AMQ += " " + rev + dirty
	}
	return t
}

// nonNil returns s, or an empty slice for nil, so that JSON lists are []
// rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
