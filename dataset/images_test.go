package dataset

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// mean and std of ImageNet in RGB order, as testdata/make.py uses them.
var (
	mean = []float64{0.485, 0.456, 0.406}
	std  = []float64{0.229, 0.224, 0.225}
)

// maxDiff is the largest |got - want| over two float32 tensors of one shape.
func maxDiff(t *testing.T, got, want *onnx.Tensor) float64 {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	d := 0.0
	for i, w := range want.Floats() {
		d = math.Max(d, math.Abs(float64(got.Floats()[i])-float64(w)))
	}
	return d
}

// TestImagesMatchNumPyWithoutResize checks scaling, mean/std, BGR order
// and luminance against NumPy's values (testdata/make.py), exactly: both
// compute p/255 and the normalization in float64 and round once to
// float32, and 8-bit pixels widened to 16 bits (p·257) divide by 65535 to
// the same float64 as p by 255.
func TestImagesMatchNumPyWithoutResize(t *testing.T) {
	t.Parallel()
	bgr := []float64{0, 0, 0}
	for i := range 3 {
		bgr[i] = mean[2-i]
	}
	stdBGR := []float64{std[2], std[1], std[0]}
	for _, c := range []struct {
		name string
		g    *onnx.Graph
		opt  ImageOptions
		ref  string
	}{
		{"BGR", model(onnx.Float, -1, 3, 10, 12), ImageOptions{Mean: bgr, Std: stdBGR, BGR: true}, "rgb_bgr.npy"},
		{"dynamic size", model(onnx.Float, -1, 3, -1, -1), ImageOptions{Mean: bgr, Std: stdBGR, BGR: true}, "rgb_bgr.npy"},
		{"luminance", model(onnx.Float, -1, 1, 10, 12), ImageOptions{Mean: []float64{0.5}, Std: []float64{0.25}}, "rgb_luma.npy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := open(t, c.g, testdata("rgb"), Options{Image: &c.opt})
			if s.Samples != 3 || s.Size != 3 {
				t.Fatalf("%d samples in batches of %d, want 3 in one batch", s.Samples, s.Size)
			}
			if d := maxDiff(t, all(t, s, "x"), testfixture.ReadNpy(t, testdata(c.ref))); d != 0 {
				t.Errorf("max |amq - numpy| = %g, want 0", d)
			}
		})
	}
}

// TestImagesNHWCIsNCHWTransposed checks --layout NHWC: the same values as
// NCHW, channels last.
func TestImagesNHWCIsNCHWTransposed(t *testing.T) {
	t.Parallel()
	opt := ImageOptions{Mean: mean, Std: std, NHWC: true}
	s, _ := open(t, model(onnx.Float, -1, 10, 12, 3), testdata("rgb"), Options{Image: &opt})
	got := all(t, s, "x")
	ref := testfixture.ReadNpy(t, testdata("rgb_bgr.npy")) // BGR, NCHW
	want := make([]float32, len(ref.Floats()))
	for n := range 3 {
		for c := range 3 {
			for y := range 10 {
				for x := range 12 {
					// ref's channel 2-c is RGB channel c normalized by
					// mean[c], std[c], as this run normalizes it.
					want[((n*10+y)*12+x)*3+c] = ref.Floats()[((n*3+2-c)*10+y)*12+x]
				}
			}
		}
	}
	if d := maxDiff(t, got, onnx.NewTensor([]int{3, 10, 12, 3}, want)); d != 0 {
		t.Errorf("max |NHWC - NCHW transposed| = %g, want 0", d)
	}
}

// TestImagesResizeMatchesTheTentFilter checks --image-size, shrinking and
// growing, against the tent filter testdata/make.py defines, computed by
// NumPy in float64. x/image rounds the resized pixels to 16 bits, up to
// 0.5/65535 in [0, 1], which the division by std scales to at most
// 0.5/65535/0.224 = 3.4e-5; float32 rounding of values below 3 adds at
// most 2.4e-7. x/image's ApproxBiLinear (no widened kernel when shrinking)
// is off by 0.19 here, its CatmullRom by 0.09.
func TestImagesResizeMatchesTheTentFilter(t *testing.T) {
	t.Parallel()
	tol := 0.5/65535/0.224 + 2.4e-7
	for _, c := range []struct {
		h, w int
		ref  string
	}{{7, 9, "rgb_down.npy"}, {15, 20, "rgb_up.npy"}} {
		opt := ImageOptions{Size: [2]int{c.h, c.w}, Mean: mean, Std: std}
		s, _ := open(t, model(onnx.Float, -1, 3, -1, -1), testdata("rgb"), Options{Image: &opt})
		if d := maxDiff(t, all(t, s, "x"), testfixture.ReadNpy(t, testdata(c.ref))); d > tol {
			t.Errorf("%dx%d: max |amq - numpy| = %g, want <= %g", c.h, c.w, d, tol)
		}
	}
}

// TestImagesDropAlphaAndSpreadGray checks an RGBA PNG (alpha dropped, the
// colour of a transparent pixel kept) and a grayscale PNG fed to a colour
// model (three equal channels), against NumPy.
func TestImagesDropAlphaAndSpreadGray(t *testing.T) {
	t.Parallel()
	for dir, ref := range map[string]string{"alpha": "alpha_rgb.npy", "gray": "gray_rgb.npy"} {
		s, _ := open(t, model(onnx.Float, -1, 3, -1, -1), testdata(dir), Options{})
		if d := maxDiff(t, all(t, s, "x"), testfixture.ReadNpy(t, testdata(ref))); d != 0 {
			t.Errorf("%s: max |amq - numpy| = %g, want 0", dir, d)
		}
	}
}

// writePNG writes img as a PNG file.
func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gradient is an RGB image whose channels are 8·x, 8·y and 255-8·x.
func gradient(h, w int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(8 * x), uint8(8 * y), uint8(255 - 8*x), 255})
		}
	}
	return img
}

// TestJPEGDecodesToItsPixels checks that a JPEG made with Go's encoder at
// quality 100 reads back as the image it encodes: channels in order, rows
// and columns not swapped. JPEG is lossy (Go's encoder halves the chroma
// resolution): the bound 12/255 holds for this smooth image, and a swap of
// any two channels moves some value by more than 0.7.
func TestJPEGDecodesToItsPixels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := gradient(16, 24)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.JPG"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, model(onnx.Float, -1, 3, 16, 24), dir, Options{})
	got := all(t, s, "x").Floats()
	worst := 0.0
	for c := range 3 {
		for y := range 16 {
			for x := range 24 {
				p := img.RGBAAt(x, y)
				want := float64([]uint8{p.R, p.G, p.B}[c]) / 255
				worst = math.Max(worst, math.Abs(float64(got[(c*16+y)*24+x])-want))
			}
		}
	}
	if worst > 12.0/255 {
		t.Errorf("max |decoded - encoded| = %g, want <= 12/255", worst)
	}
}

// TestImagesAreDecodedPerBatch checks that a batch decodes its own files
// only: after Open, a file of the second batch is damaged; the first batch
// still reads, the second fails naming the file.
func TestImagesAreDecodedPerBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []string{"0.png", "1.png", "2.png", "3.png"} {
		writePNG(t, filepath.Join(dir, n), gradient(4, 4))
	}
	s, _ := open(t, model(onnx.Float, -1, 3, 4, 4), dir, Options{BatchSize: 2})
	bad := filepath.Join(dir, "3.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\n broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(0); err != nil {
		t.Errorf("batch 0: %v", err)
	}
	if _, err := s.Batch(1); err == nil || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Errorf("batch 1: error %v, want one naming %s", err, bad)
	}
}

// TestImageFolderErrors checks the errors for images that cannot feed the
// model: each names the file (two for mixed sizes) and says what to change.
func TestImageFolderErrors(t *testing.T) {
	t.Parallel()
	mk := func(files map[string]image.Image, raw map[string]string) string {
		dir := t.TempDir()
		for n, img := range files {
			writePNG(t, filepath.Join(dir, n), img)
		}
		for n, s := range raw {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dyn := model(onnx.Float, -1, 3, -1, -1)
	var b bytes.Buffer
	png.Encode(&b, gradient(8, 8))
	truncated := b.String()[:b.Len()/2]

	dir := mk(map[string]image.Image{"a.png": gradient(8, 8)}, map[string]string{"b.png": "not an image"})
	openFails(t, dyn, dir, Options{}, filepath.Join(dir, "b.png"), "not a PNG or JPEG image")
	dir = mk(map[string]image.Image{"a.png": gradient(8, 8)}, map[string]string{"b.jpg": truncated})
	readFails(t, dyn, dir, Options{}, filepath.Join(dir, "b.jpg"), "corrupt image") // its header is whole
	dir = mk(map[string]image.Image{"a.png": gradient(8, 8), "b.png": gradient(6, 8), "c.png": gradient(8, 8)}, nil)
	openFails(t, dyn, dir, Options{}, "images differ in size", filepath.Join(dir, "a.png")+" is 8x8", filepath.Join(dir, "b.png")+" is 6x8", "--image-size")
	// The same folder resized reads.
	s, _ := open(t, dyn, dir, Options{Image: &ImageOptions{Size: [2]int{5, 5}}})
	if got := all(t, s, "x").Shape; !slices.Equal(got, []int{3, 3, 5, 5}) {
		t.Errorf("resized: shape %v, want [3 3 5 5]", got)
	}
	dir = mk(map[string]image.Image{"a.png": gradient(8, 8)}, nil)
	openFails(t, model(onnx.Float, -1, 3, 10, 12), dir, Options{}, filepath.Join(dir, "a.png")+" is 8x8", "takes 10x12", "--image-size")
	openFails(t, model(onnx.Float, -1, 3, 10, 12), dir, Options{Image: &ImageOptions{Size: [2]int{9, 9}}}, "--image-size 9,9", "10x12")
	openFails(t, model(onnx.Float, -1, 4, 8, 8), dir, Options{}, `input "x"`, "4 channels", "--layout NCHW")
	openFails(t, dyn, dir, Options{Image: &ImageOptions{Mean: []float64{1, 2}}}, "--mean has 2 values", "3 channels")
	openFails(t, dyn, dir, Options{Image: &ImageOptions{Std: []float64{1, 0, 1}}}, "--std", "0")
	openFails(t, model(onnx.Int64, -1, 3, 8, 8), dir, Options{}, `input "x" takes int64`)
	openFails(t, model(onnx.Float, -1, 64), dir, Options{}, "rank 4")

	// A damaged header that declares 100000x100000 pixels is refused
	// before the decoder allocates them.
	huge := []byte(b.String())
	binary.BigEndian.PutUint32(huge[16:], 100000)
	binary.BigEndian.PutUint32(huge[20:], 100000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	dir = mk(nil, map[string]string{"a.png": string(huge)})
	openFails(t, dyn, dir, Options{}, filepath.Join(dir, "a.png"), "100000x100000 pixels")
}

// TestImagesFeedFloat16Inputs checks that a float16 input gets the
// float32 values rounded to float16.
func TestImagesFeedFloat16Inputs(t *testing.T) {
	t.Parallel()
	s, _ := open(t, model(onnx.Float16, -1, 3, -1, -1), testdata("rgb"), Options{})
	in, err := s.Batch(0)
	if err != nil {
		t.Fatal(err)
	}
	x := in["x"]
	if x.DType != onnx.Float16 {
		t.Fatalf("type %v, want FLOAT16", x.DType)
	}
	for _, v := range x.Floats() {
		if onnx.Float16ToFloat32(onnx.Float32ToFloat16(v)) != v {
			t.Fatalf("value %v is not a float16 value", v)
		}
	}
}
