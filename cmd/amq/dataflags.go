package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"amq/onnx"
)

// dataFlags are the flags that name calibration data and say how to read
// it. quantize, preprocess and calibrate register them, so that they mean
// the same everywhere.
type dataFlags struct {
	path          string
	batchSize     int
	imageSize     []int
	mean, std     string
	color, layout string
	inputShape    []int
	dtype         string
	fl            *pflag.FlagSet // to tell the flags given from defaults
}

// imageFlags and rawFlags are the flags that apply to one kind of data.
var (
	imageFlags = []string{"image-size", "mean", "std", "color", "layout"}
	rawFlags   = []string{"input-shape", "dtype"}
)

// add registers the flags on fl.
func (f *dataFlags) add(fl *pflag.FlagSet) {
	f.fl = fl
	fl.StringVar(&f.path, "data", "", "calibration samples: a .npy (single input) or .npz (an array per input, by name) with samples on axis 0; "+
		"a folder of PNG/JPEG images; or raw .bin files (one file or a folder) (required)")
	fl.IntVar(&f.batchSize, "batch-size", 0, "samples per batch (default: the model's fixed batch dimension; if it is dynamic, 32, or all samples when fewer)")
	fl.IntSliceVar(&f.imageSize, "image-size", nil, "images: resize every image to H,W (bilinear); without it the images must have one size")
	fl.StringVar(&f.mean, "mean", "", "images: subtracted per channel after scaling pixels to [0,1], in the model's channel order, e.g. 0.485,0.456,0.406 (default 0)")
	fl.StringVar(&f.std, "std", "", "images: divides per channel after --mean, e.g. 0.229,0.224,0.225 (default 1)")
	fl.StringVar(&f.color, "color", "RGB", "images: channel order the model takes, RGB or BGR (grayscale models get luminance)")
	fl.StringVar(&f.layout, "layout", "NCHW", "images: the model input's layout, NCHW or NHWC")
	fl.IntSliceVar(&f.inputShape, "input-shape", nil, "raw .bin files: one sample's shape, or the input's with its batch dimension first (default: the model's)")
	fl.StringVar(&f.dtype, "dtype", "", "raw .bin files: element type, little-endian: float32, float16, float64, int64, int32, int16, int8, uint8, ... (default: the model input's)")
}

// given reports whether any of names was set on the command line.
func (f *dataFlags) given(names []string) bool {
	for _, n := range names {
		if f.fl != nil && f.fl.Changed(n) {
			return true
		}
	}
	return false
}

// dtypes are the --dtype names, NumPy's and a few common others.
var dtypes = map[string]onnx.DataType{
	"float32": onnx.Float, "float": onnx.Float, "fp32": onnx.Float,
	"float16": onnx.Float16, "half": onnx.Float16, "fp16": onnx.Float16,
	"float64": onnx.Double, "double": onnx.Double,
	"bfloat16": onnx.BFloat16,
	"int64":    onnx.Int64, "int32": onnx.Int32, "int16": onnx.Int16, "int8": onnx.Int8,
	"uint64": onnx.Uint64, "uint32": onnx.Uint32, "uint16": onnx.Uint16, "uint8": onnx.Uint8,
	"bool": onnx.Bool,
}

// parseDType reads a --dtype name.
func parseDType(s string) (onnx.DataType, error) {
	if dt, ok := dtypes[strings.ToLower(s)]; ok {
		return dt, nil
	}
	return onnx.Undefined, fmt.Errorf("--dtype %q: want float32, float16, bfloat16, float64, int64, int32, int16, int8, uint64, uint32, uint16, uint8 or bool", s)
}

// parseFloats reads a --mean or --std value: numbers separated by commas.
func parseFloats(flag, s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %q is not a number", flag, s, f)
		}
		out = append(out, v)
	}
	return out, nil
}
