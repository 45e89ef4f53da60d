package opset

import (
	"fmt"

	"amq/onnx"
)

// Element types, for the constants that replace Clip's and Pad's float
// attributes: inputs of the same type as the data. Models rarely store
// the type of every intermediate tensor, so it is also followed back
// through the producers.

// typeOfInput0 lists operators whose outputs (the first one; every one for
// Split) have the element type of their first input.
var typeOfInput0 = setOf(
	"Abs", "Acos", "Acosh", "Add", "Asin", "Asinh", "Atan", "Atanh",
	"AveragePool", "BatchNormalization", "Ceil", "Clip", "Compress", "Concat",
	"Conv", "ConvTranspose", "Cos", "Cosh", "DepthToSpace", "Div", "Dropout",
	"Elu", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "Gemm",
	"GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "HardSigmoid",
	"Hardmax", "Identity", "InstanceNormalization", "LRN", "LeakyRelu", "Log",
	"LogSoftmax", "LpNormalization", "LpPool", "MatMul", "Max", "MaxPool",
	"MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization", "Min",
	"Mod", "Mul", "Neg", "PRelu", "Pad", "Pow", "Reciprocal", "ReduceL1",
	"ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
	"ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
	"Reshape", "Resize", "ReverseSequence", "RoiAlign", "Scatter", "Selu",
	"Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Slice", "Softmax",
	"Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub",
	"Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
	"Unsqueeze", "Upsample",
)

// elemType returns the element type of tensor name: recorded for graph
// inputs, initializers, value infos and graph outputs, else derived from
// its producer.
func (u *upgrader) elemType(name string) (onnx.DataType, error) {
	if dt, ok := u.types[name]; ok {
		return dt, nil
	}
	dt := u.recordedType(name)
	if dt == onnx.Undefined {
		var err error
		if dt, err = u.producedType(name); err != nil {
			return onnx.Undefined, err
		}
	}
	u.types[name] = dt
	return dt, nil
}

// recordedType is the type the graph states for name, or Undefined.
func (u *upgrader) recordedType(name string) onnx.DataType {
	g := u.g
	if t, ok := g.Initializers[name]; ok {
		return t.DType
	}
	if in := g.Input(name); in != nil {
		return in.DType
	}
	if vi, ok := g.ValueInfo[name]; ok {
		return vi.DType
	}
	for _, o := range g.Outputs {
		if o.Name == name {
			return o.DType
		}
	}
	return onnx.Undefined
}

// producedType derives the type of name from the node producing it.
func (u *upgrader) producedType(name string) (onnx.DataType, error) {
	p := u.g.Producer(name)
	if p == nil || p.Domain != "" {
		return onnx.Undefined, fmt.Errorf("cannot tell the element type of %q", name)
	}
	switch p.OpType {
	case "Constant":
		if t, err := onnx.ConstantValue(p); err == nil {
			return t.DType, nil
		}
	case "Cast":
		return onnx.DataType(p.AttrInt("to", 0)), nil
	case "ConstantOfShape":
		if t := p.AttrTensor("value"); t != nil {
			return t.DType, nil
		}
		return onnx.Float, nil
	default:
		if typeOfInput0[p.OpType] && (p.Outputs[0] == name || p.OpType == "Split") && p.Input(0) != "" {
			return u.elemType(p.Input(0))
		}
	}
	return onnx.Undefined, fmt.Errorf("cannot tell the element type of %q (output of %v)", name, p)
}
