package quant

import (
	"fmt"
	"strings"

	"amq/onnx"
)

// An ActCalibrator accumulates one activation tensor's statistics, batch by
// batch, and derives its quantization factors from them.
type ActCalibrator interface {
	// Observe adds one batch of the tensor.
	Observe(t *onnx.Tensor) error
	// ScaleOffset returns the int8 scale and offset for the values
	// observed so far under the layer parameters p.
	ScaleOffset(p ActParams) (scale float32, offset int32, err error)
}

// actAlgorithm is one act_algo of the layer config.
type actAlgorithm struct {
	name string
	// check validates a layer's parameters, before any batch runs.
	check func(p ActParams) error
	// bins is the histogram size p calls for.
	bins func(p ActParams) int
	// calibrator returns an empty calibrator with that many bins.
	calibrator func(bins int) ActCalibrator
}

// actAlgorithms lists the act_algo values in AMCT's order, its default
// first; messages list them in this order.
var actAlgorithms = []*actAlgorithm{
	{
		name:       "ifmr",
		check:      checkIFMR,
		bins:       func(ActParams) int { return IFMRBins },
		calibrator: func(bins int) ActCalibrator { return ifmrCalibrator{NewHistogram(bins)} },
	},
	{
		name:       "hfmg",
		check:      checkHFMG,
		bins:       func(p ActParams) int { return p.NumOfBins },
		calibrator: func(bins int) ActCalibrator { return hfmgCalibrator{NewHFMGHistogram(bins)} },
	},
}

// lookupActAlgorithm returns the algorithm called name.
func lookupActAlgorithm(name string) (*actAlgorithm, error) {
	names := make([]string, len(actAlgorithms))
	for i, a := range actAlgorithms {
		if a.name == name {
			return a, nil
		}
		names[i] = a.name
	}
	return nil, fmt.Errorf("unknown activation algorithm %q (want %s)", name, orList(names))
}

// calibratorKey identifies a calibrator. Layers that read the same tensor
// with the same algorithm and histogram size share one: its statistics do
// not depend on the rest of their parameters.
type calibratorKey struct {
	tensor string
	algo   string
	bins   int
}

// key returns the key of the calibrator for a layer that reads tensor with
// parameters p.
func (a *actAlgorithm) key(tensor string, p ActParams) calibratorKey {
	return calibratorKey{tensor, a.name, a.bins(p)}
}

// ifmrCalibrator streams into a Histogram and calibrates with IFMR.
type ifmrCalibrator struct{ *Histogram }

func (c ifmrCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	return IFMR(c.Histogram, p)
}

// hfmgCalibrator streams into an HFMGHistogram and calibrates with HFMG.
type hfmgCalibrator struct{ *HFMGHistogram }

func (c hfmgCalibrator) ScaleOffset(p ActParams) (float32, int32, error) {
	return HFMG(c.HFMGHistogram, p)
}

// weightAlgorithm is one wts_algo of the layer config.
type weightAlgorithm struct {
	name string
	// scales returns the weight scales of a layer of type op (see ARQ).
	scales func(op string, n *onnx.Node, w *onnx.Tensor, channelWise bool) ([]float32, error)
}

// weightAlgorithms lists the wts_algo values, the default (an empty
// wts_algo) first.
var weightAlgorithms = []*weightAlgorithm{
	{name: "arq_quantize", scales: ARQ},
}

// lookupWeightAlgorithm returns the algorithm called name, or the default
// when name is empty.
func lookupWeightAlgorithm(name string) (*weightAlgorithm, error) {
	if name == "" {
		return weightAlgorithms[0], nil
	}
	names := make([]string, len(weightAlgorithms))
	for i, a := range weightAlgorithms {
		if a.name == name {
			return a, nil
		}
		names[i] = a.name
	}
	return nil, fmt.Errorf("unknown weight algorithm %q (want %s)", name, orList(names))
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
