package quant

import "amq/onnx"

// Layer is a quantizable layer: a Conv, ConvTranspose, Gemm or MatMul node
// with a constant weight.
type Layer struct {
	Name   string     // ONNX node name, the key in configs and records
	Type   string     // ONNX op type
	Node   *onnx.Node // the node in the model it was found in
	Input  string     // activation tensor (input 0)
	Weight string     // weight tensor name as the node reads it
	Bias   string     // bias tensor name, "" when none
	// Spatial is the number of spatial dims of a convolution (1, 2 or 3);
	// 0 for Gemm/MatMul.
	Spatial int
	// Notes lists what FindLayers changed for the layer, such as the private
	// copy of a weight it shared with another node.
	Notes []string
}

// Exclusion records why a candidate layer is not quantized.
type Exclusion struct {
	Layer string // node name
	Type  string // op type
	Rule  string // the restriction or config entry that excluded it
}

// Config is the JSON quant config that CreateQuantConfig writes, in AMCT's
// layout: global keys plus one object per quantizable layer.
type Config struct {
	Version          int      // ConfigVersion
	BatchNum         int      // calibration batches to use
	ActivationOffset bool     // asymmetric activations by default
	DoFusion         bool     // fold BatchNormalization into Conv
	SkipFusionLayers []string // Convs left unfused when DoFusion is set
	// Layers maps ONNX node names to their settings.
	Layers map[string]*LayerConfig
}

// LayerConfig is one layer's entry of the quant config.
type LayerConfig struct {
	QuantEnable bool
	// DMQ is nil when the layer has no balance preprocessing.
	DMQ *DMQParams
	// AlphaSearch, amq's own setting, replaces DMQ's fixed migration
	// strength by a per-layer search (see AlphaSearch); nil without.
	AlphaSearch *AlphaSearch
	Act         ActParams
	Weight      WeightParams
}

// DMQParams configures the activation quantization balance (DMQ).
type DMQParams struct {
	MigrationStrength float64 // alpha, in [0.2, 0.8]
}

// ActParams configures activation calibration.
type ActParams struct {
	NumBits       int        // bits of the quantized activation (8)
	Algo          string     // "ifmr" or "hfmg"
	MaxPercentile float64    // ifmr: percentile of the initial upper bound
	MinPercentile float64    // ifmr: percentile of the initial lower bound
	SearchRange   [2]float64 // ifmr: factors of those bounds searched
	SearchStep    float64    // ifmr: step of that search
	NumOfBins     int        // hfmg: histogram bins
	Asymmetric    bool       // quantize with an offset (activation_offset)
}

// WeightParams configures weight calibration.
type WeightParams struct {
	NumBits     int    // bits of the quantized weight (8)
	Algo        string // "arq_quantize"
	ChannelWise bool   // one scale per output channel instead of one
}

// LayerRecord is one layer's entry of the record file (AMCT's
// SingleLayerRecord).
type LayerRecord struct {
	ScaleD        float32   // activation scale
	OffsetD       int32     // activation offset
	ScaleW        []float32 // weight scales, one or one per output channel
	OffsetW       []int32   // weight offsets (0, symmetric)
	ShiftBit      []uint32  // AMCT's shift_bit, 0 per weight scale
	BalanceFactor []float32 // tensor_balance_factor, one per input channel
	SkipFusion    bool
	DstType       string // "INT8"
	ActType       string // "INT8"
	WtsType       string // "INT8"
	// HasQuant reports whether the activation/weight fields are set (after
	// calibration); a record after Preprocess has only BalanceFactor.
	HasQuant bool
}

// Record is the contents of a record file, by layer name.
type Record map[string]*LayerRecord
