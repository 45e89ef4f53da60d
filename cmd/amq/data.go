package main

import (
	"fmt"
	"io"
	"strings"

	"amq/dataset"
	"amq/onnx"
)

// openData opens the calibration data the flags name for the inputs of g
// and checks it against them; notes go to w.
func (f *dataFlags) open(g *onnx.Graph, w io.Writer) (*dataset.Source, error) {
	opt := dataset.Options{BatchSize: f.batchSize, Notes: w}
	if f.given(imageFlags) {
		img, err := f.imageOptions()
		if err != nil {
			return nil, err
		}
		opt.Image = img
	}
	if f.given(rawFlags) {
		opt.Raw = &dataset.RawOptions{Shape: f.inputShape}
		if f.dtype != "" {
			dt, err := parseDType(f.dtype)
			if err != nil {
				return nil, err
			}
			opt.Raw.DType = dt
		}
	}
	return dataset.Open(g, f.path, opt)
}

// imageOptions reads the image flags.
func (f *dataFlags) imageOptions() (*dataset.ImageOptions, error) {
	img := &dataset.ImageOptions{}
	var err error
	if img.Mean, err = parseFloats("--mean", f.mean); err != nil {
		return nil, err
	}
	if img.Std, err = parseFloats("--std", f.std); err != nil {
		return nil, err
	}
	if f.imageSize != nil {
		if len(f.imageSize) != 2 {
			return nil, fmt.Errorf("--image-size %v: give height and width, such as 224,224", f.imageSize)
		}
		img.Size = [2]int{f.imageSize[0], f.imageSize[1]}
	}
	switch strings.ToUpper(f.color) {
	case "RGB":
	case "BGR":
		img.BGR = true
	default:
		return nil, fmt.Errorf("--color %q: want RGB or BGR", f.color)
	}
	switch strings.ToUpper(f.layout) {
	case "NCHW":
	case "NHWC":
		img.NHWC = true
	default:
		return nil, fmt.Errorf("--layout %q: want NCHW or NHWC", f.layout)
	}
	return img, nil
}
