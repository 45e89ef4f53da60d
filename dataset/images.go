package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // JPEG images
	_ "image/png"  // PNG images
	"io"
	"os"

	"amq/onnx"
)

// ImageOptions are a model's preprocessing of images (the --image-size,
// --mean, --std, --color and --layout flags).
type ImageOptions struct {
	// Size is the height and width every image is resized to (bilinear);
	// zero means no resize: the images must then have one size, the
	// model's where it fixes one.
	Size [2]int
	// Mean is subtracted from each channel after pixels are scaled to
	// [0, 1], and Std then divides it, in the model's channel order: one
	// value for all channels or one per channel. nil means 0 and 1.
	Mean, Std []float64
	// BGR puts the channels in blue, green, red order (RGB otherwise).
	BGR bool
	// NHWC puts the channels last (NCHW otherwise).
	NHWC bool
}

// imageSamples are image files, one sample each, decoded per batch.
type imageSamples struct {
	files []string
	dtype onnx.DataType // the input's
	input string
	p     pipeline
}

// openImages checks the preprocessing against the model's single input and
// reads every image's header (not its pixels), so that a file that is not
// an image or a size that does not fit is found before the first batch;
// pixels are decoded once, in their batch.
func openImages(g *onnx.Graph, path string, files []string, opt *ImageOptions) (*imageSamples, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("%s: the model has %d inputs and images feed one: give a .npz with one array per input", path, len(g.Inputs))
	}
	in := g.Inputs[0]
	if !isFloat(in.DType) && in.DType != onnx.Undefined {
		return nil, fmt.Errorf("%s: input %q takes %s data; images feed a float input", path, in.Name, typeName(in.DType))
	}
	if opt == nil {
		opt = &ImageOptions{}
	}
	p, err := newPipeline(in, opt)
	if err != nil {
		return nil, err
	}
	if err := p.sizeImages(in, files, opt.Size != [2]int{}); err != nil {
		return nil, err
	}
	return &imageSamples{files: files, dtype: in.DType, input: in.Name, p: p}, nil
}

// newPipeline resolves the preprocessing against input in: its layout,
// channels and, where the model fixes it or opt gives it, size.
func newPipeline(in *onnx.ValueInfo, opt *ImageOptions) (pipeline, error) {
	p := pipeline{c: 3, bgr: opt.BGR, nhwc: opt.NHWC}
	layout, cAxis, hAxis, wAxis := "NCHW", 1, 2, 3
	if opt.NHWC {
		layout, cAxis, hAxis, wAxis = "NHWC", 3, 1, 2
	}
	var mh, mw int // the model's height and width; 0 where open
	if in.Shape != nil {
		if len(in.Shape) != 4 {
			return p, fmt.Errorf("input %q of shape %s does not take images: it needs rank 4 (NCHW or NHWC)", in.Name, dimsString(in.Shape))
		}
		if d := in.Shape[cAxis]; d.Known() {
			p.c = int(d.Value)
		}
		if p.c != 1 && p.c != 3 {
			return p, fmt.Errorf("input %q of shape %s has %d channels at axis %d (--layout %s); images give 1 (grayscale) or 3", in.Name, dimsString(in.Shape), p.c, cAxis, layout)
		}
		if d := in.Shape[hAxis]; d.Known() {
			mh = int(d.Value)
		}
		if d := in.Shape[wAxis]; d.Known() {
			mw = int(d.Value)
		}
	}
	var err error
	if p.mean, err = perChannel("--mean", opt.Mean, p.c, 0, in.Name); err != nil {
		return p, err
	}
	if p.std, err = perChannel("--std", opt.Std, p.c, 1, in.Name); err != nil {
		return p, err
	}
	for i, s := range p.std {
		if s == 0 {
			return p, fmt.Errorf("--std: channel %d is 0", i)
		}
	}
	p.h, p.w = mh, mw
	if opt.Size != [2]int{} {
		h, w := opt.Size[0], opt.Size[1]
		if h < 1 || w < 1 {
			return p, fmt.Errorf("--image-size %d,%d: height and width must be at least 1", h, w)
		}
		if mh > 0 && mh != h || mw > 0 && mw != w {
			return p, fmt.Errorf("--image-size %d,%d, but input %q of shape %s takes images of %s (height x width)", h, w, in.Name, dimsString(in.Shape), hw(mh, mw))
		}
		p.h, p.w = h, w
	}
	return p, nil
}

// perChannel expands a --mean or --std flag's values to c channels: one
// value for all, or one per channel; def without values.
func perChannel(flag string, vals []float64, c int, def float64, input string) ([]float64, error) {
	out := make([]float64, c)
	switch len(vals) {
	case 0, 1:
		v := def
		if len(vals) == 1 {
			v = vals[0]
		}
		for i := range out {
			out[i] = v
		}
	case c:
		copy(out, vals)
	default:
		return nil, fmt.Errorf("%s has %d values, and input %q takes %s", flag, len(vals), input, count(c, "channel"))
	}
	return out, nil
}

// hw shows an image size, 0 for a size the model leaves open.
func hw(h, w int) string {
	d := func(v int) string {
		if v == 0 {
			return "?"
		}
		return fmt.Sprint(v)
	}
	return d(h) + "x" + d(w)
}

// sizeImages reads every file's header and checks its size: anything when
// resizing; otherwise the model's height and width where it fixes them,
// and the first image's. Without a resize, the first image sets the
// pipeline's size.
func (p *pipeline) sizeImages(in *onnx.ValueInfo, files []string, resize bool) error {
	var first string
	mh, mw := p.h, p.w
	for _, f := range files {
		cfg, err := decodeConfig(f)
		if err != nil {
			return err
		}
		h, w := cfg.Height, cfg.Width
		switch {
		case h == 0 || w == 0:
			return fmt.Errorf("%s: the image is empty", f)
		case resize:
		case mh > 0 && mh != h || mw > 0 && mw != w:
			return fmt.Errorf("%s is %s (height x width), and input %q of shape %s takes %s: give --image-size H,W to resize the images",
				f, hw(h, w), in.Name, dimsString(in.Shape), hw(mh, mw))
		case first == "":
			first, p.h, p.w = f, h, w
		case h != p.h || w != p.w:
			return fmt.Errorf("images differ in size: %s is %s and %s is %s (height x width): give --image-size H,W to resize them to one size",
				first, hw(p.h, p.w), f, hw(h, w))
		}
	}
	return nil
}

// maxPixels bounds an image's size: a damaged header could otherwise ask
// the decoder for gigabytes.
const maxPixels = 1 << 28

// decodeConfig reads the header of the image in file: its size, checked
// against maxPixels.
func decodeConfig(file string) (image.Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	return configOf(file, f)
}

// configOf reads the header of the image file that r reads.
func configOf(file string, r io.Reader) (image.Config, error) {
	cfg, _, err := image.DecodeConfig(bufio.NewReader(r))
	if err != nil {
		return cfg, imageError(file, err)
	}
	if cfg.Width*cfg.Height > maxPixels {
		return cfg, fmt.Errorf("%s: %dx%d pixels (height x width) is more than amq decodes", file, cfg.Height, cfg.Width)
	}
	return cfg, nil
}

// decode reads the image in file, its header first so that a damaged one
// cannot make the decoder allocate gigabytes.
func decode(file string) (image.Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := configOf(file, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, imageError(file, err)
	}
	return img, nil
}

// imageError says what is wrong with file for the decoder's err.
func imageError(file string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("%s: not a PNG or JPEG image", file)
	}
	return fmt.Errorf("%s: corrupt image: %w", file, err)
}

func (s *imageSamples) count() int { return len(s.files) }

// read decodes and preprocesses images [lo, hi) into one batch.
func (s *imageSamples) read(lo, hi int) (map[string]*onnx.Tensor, error) {
	p := &s.p
	per := p.c * p.h * p.w
	data := make([]float32, (hi-lo)*per)
	for k, f := range s.files[lo:hi] {
		img, err := decode(f)
		if err != nil {
			return nil, err
		}
		p.fill(data[k*per:(k+1)*per], img)
	}
	shape := []int{hi - lo, p.c, p.h, p.w}
	if p.nhwc {
		shape = []int{hi - lo, p.h, p.w, p.c}
	}
	t := onnx.NewTensor(shape, data)
	if s.dtype != onnx.Float && s.dtype != onnx.Undefined {
		var err error
		if t, err = t.Convert(s.dtype); err != nil {
			return nil, fmt.Errorf("input %q: %w", s.input, err)
		}
	}
	return map[string]*onnx.Tensor{s.input: t}, nil
}
