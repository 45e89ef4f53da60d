package opset

import "amq/onnx"

// rule converts node n in place to its opset-11 form, or returns why it
// cannot.
type rule func(u *upgrader, n *onnx.Node) error

// versioned is a rule that applies to models older than opset before;
// from that opset on the operator already has its opset-11 form.
type versioned struct {
	before int64
	fn     rule
}

// rules lists the operators of opsets 7 to 10 whose opset-11 form differs.
var rules = map[string]versioned{
	"BatchNormalization": {9, batchNorm},
	"Clip":               {11, clip},
	"Dropout":            {10, dropout},
	"Pad":                {11, pad},
	"Resize":             {11, resize10},
	"Scan":               {9, scan8},
	"Scatter":            {11, scatter},
	"Slice":              {10, slice1},
	"TopK":               {10, topK1},
	"Upsample":           {11, upsample},
}

// same lists the other operators of opsets 7 to 10: their opset-11
// versions, where there is a newer one, accept every use of the old one
// with the same meaning (more element types, negative axes, optional
// inputs, new attributes whose defaults are the old behaviour).
var same = setOf(
	"Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh",
	"Atan", "Atanh", "AveragePool", "Cast", "Ceil", "Compress", "Concat",
	"Constant", "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose",
	"Cos", "Cosh", "DepthToSpace", "DequantizeLinear", "Div", "Elu", "Equal",
	"Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "GRU", "Gather",
	"Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater",
	"HardSigmoid", "Hardmax", "Identity", "If", "InstanceNormalization",
	"IsInf", "IsNaN", "LRN", "LSTM", "LeakyRelu", "Less", "Log", "LogSoftmax",
	"Loop", "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max",
	"MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization",
	"Min", "Mod", "Mul", "Multinomial", "Neg", "NonMaxSuppression", "NonZero",
	"Not", "OneHot", "Or", "PRelu", "Pow", "QLinearConv", "QLinearMatMul",
	"QuantizeLinear", "RNN", "RandomNormal", "RandomNormalLike",
	"RandomUniform", "RandomUniformLike", "Reciprocal", "ReduceL1", "ReduceL2",
	"ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
	"ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
	"ReverseSequence", "RoiAlign", "Selu", "Shape", "Shrink", "Sigmoid",
	"Sign", "Sin", "Sinh", "Size", "Softmax", "Softplus", "Softsign",
	"SpaceToDepth", "Split", "Sqrt", "Squeeze", "StringNormalizer", "Sub",
	"Sum", "Tan", "Tanh", "TfIdfVectorizer", "ThresholdedRelu", "Tile",
	"Transpose", "Unsqueeze", "Where", "Xor",
)

// ruleFor returns the rule for op in a model of opset from: nil when the
// node stays as it is, and known false when op is no ai.onnx operator of
// opsets 7 to 10.
func ruleFor(op string, from int64) (r rule, known bool) {
	if v, ok := rules[op]; ok {
		if from < v.before {
			return v.fn, true
		}
		return nil, true
	}
	return nil, same[op]
}

func setOf(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}
