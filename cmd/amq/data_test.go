package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
)

// TestNegativeBatchSizeIsReportedAsSuch checks that a negative --batch-size
// is reported as such, not as a model without a fixed batch dimension.
func TestNegativeBatchSizeIsReportedAsSuch(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "fixtures", "mlp", "model_op17.onnx")
	data := testfixture.Path(t, "fixtures", "mlp", "input.npy")
	out := filepath.Join(t.TempDir(), "q")
	_, err := amq(t, "quantize", "--model", model, "--data", data, "--batch-size", "-2", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--batch-size -2") {
		t.Errorf("quantize --batch-size -2: error %v, want one about --batch-size -2", err)
	}
}

// cnnModel is the digits CNN, whose batch dimension is dynamic.
func cnnModel(t *testing.T) string {
	t.Helper()
	p := testfixture.Path(t, "quant", "cnn", "model_op13.onnx")
	m, err := onnx.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Graph.Inputs[0].Shape[0]; d.Known() {
		t.Fatalf("%s: batch dimension %v, the test needs a dynamic one", p, d)
	}
	return p
}

// quantizeRecord runs amq quantize with args into a new folder, checks
// that it wrote the four files, and returns the record and what it printed.
func quantizeRecord(t *testing.T, args ...string) (string, cliOutput) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "m")
	res, err := amq(t, append([]string{"quantize", "--model", cnnModel(t), "--out", prefix}, args...)...)
	if err != nil {
		t.Fatalf("quantize %v: %v\n%s", args, err, res)
	}
	for _, suffix := range []string{"_fake_quant_model.onnx", "_deploy_model.onnx", "_quant_config.json", "_record.txt"} {
		if _, err := os.Stat(prefix + suffix); err != nil {
			t.Errorf("quantize %v: %v", args, err)
		}
	}
	rec, err := os.ReadFile(prefix + "_record.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(rec), res
}

// calibPixels is the digits calibration data (64 8x8 images with values
// k/16) as 8-bit gray pixels, and those pixels as float32 p/255 in a
// tensor of the calibration data's shape.
func calibPixels(t *testing.T) ([]*image.Gray, *onnx.Tensor) {
	t.Helper()
	calib := testfixture.ReadNpy(t, testfixture.Path(t, "quant", "cnn", "calib.npy"))
	n := calib.Shape[0]
	imgs := make([]*image.Gray, n)
	vals := make([]float32, 0, calib.Len())
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		for j, v := range calib.Floats()[i*64 : (i+1)*64] {
			p := uint8(v*255 + 0.5)
			img.SetGray(j%8, j/8, color.Gray{p})
			vals = append(vals, float32(float64(p)/255))
		}
		imgs[i] = img
	}
	return imgs, onnx.NewTensor(calib.Shape, vals)
}

// TestQuantizeFloat64NpyWithoutBatchSize checks a new user's first run: a
// float64 .npy (NumPy's default) on a model with a dynamic batch
// dimension, no --batch-size. amq says the cast and the batch size and
// calibrates exactly as on the same data in float32 in batches of 32.
func TestQuantizeFloat64NpyWithoutBatchSize(t *testing.T) {
	t.Parallel()
	calibPath := testfixture.Path(t, "quant", "cnn", "calib.npy")
	calib := testfixture.ReadNpy(t, calibPath)
	f64, err := calib.Convert(onnx.Double)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "calib64.npy")
	if err := npy.WriteFile(p, f64); err != nil {
		t.Fatal(err)
	}
	got, res := quantizeRecord(t, "--data", p)
	for _, want := range []string{
		"batch size 32 (the model's batch dimension is dynamic; --batch-size sets it)",
		`note: ` + p + `: float64 data cast to float32 for input "input"`,
	} {
		if strings.Count(res.Stderr, want) != 1 {
			t.Errorf("stderr %q: want %q once", res.Stderr, want)
		}
	}
	if !strings.Contains(res.Stdout, "2 batches of 32 samples") {
		t.Errorf("stdout lacks 2 batches of 32 samples:\n%s", res.Stdout)
	}
	want, _ := quantizeRecord(t, "--data", calibPath, "--batch-size", "32")
	if got != want {
		t.Errorf("record from float64 data differs from float32's:\n%s\nwant\n%s", got, want)
	}
}

// writeDigits writes the calibration digits into dir as a folder of PNGs,
// digits/00.png ..., and their pixels p/255 as pixels.npy, and returns
// both paths and the pixels.
func writeDigits(t *testing.T, dir string) (pngs, npyPath string, pixels *onnx.Tensor) {
	t.Helper()
	imgs, pixels := calibPixels(t)
	pngs = filepath.Join(dir, "digits")
	os.Mkdir(pngs, 0o755)
	for i, img := range imgs {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(pngs, fmt.Sprintf("%02d.png", i)), b.Bytes(), 0o644)
	}
	npyPath = filepath.Join(dir, "pixels.npy")
	if err := npy.WriteFile(npyPath, pixels); err != nil {
		t.Fatal(err)
	}
	return pngs, npyPath, pixels
}

// TestStepCommandsTakeTheDataFlags runs create-config, preprocess (DMQ)
// and calibrate on the PNG folder of the digits, with the image flags and
// no --batch-size, and on the same pixels as a .npy: the records agree.
func TestStepCommandsTakeTheDataFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pngs, ref, _ := writeDigits(t, dir)
	model := cnnModel(t)
	cfg := filepath.Join(dir, "config.json")
	mustAmq(t, "create-config", "--model", model, "--cfg", testfixture.Path(t, "quant", "dmq.cfg"), "--out", cfg)
	steps := func(name string, data ...string) string {
		rec := filepath.Join(dir, name+"_record.txt")
		for _, step := range []string{"preprocess", "calibrate"} {
			args := append([]string{step, "--model", model, "--config", cfg, "--record", rec, "--data"}, data...)
			if out, err := amq(t, args...); err != nil {
				t.Fatalf("%s on %s: %v\n%s", step, data[0], err, out)
			}
		}
		b, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := steps("npy", ref)
	if got := steps("png", pngs, "--mean", "0", "--std", "1", "--layout", "NCHW"); got != want {
		t.Errorf("record from the PNG folder differs from the .npy's:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(want, "tensor_balance_factor") || !strings.Contains(want, "scale_d") {
		t.Errorf("record lacks balance or quant factors:\n%s", want)
	}
}

// TestQuantizeImageFolderAndBinFiles checks a folder of PNGs made from the
// calibration digits, with the image flags, and the same pixels as one
// .bin file: both calibrate exactly as a float32 .npy of p/255 does.
func TestQuantizeImageFolderAndBinFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pngs, ref, pixels := writeDigits(t, dir)
	bin := filepath.Join(dir, "pixels.bin")
	var raw bytes.Buffer
	binary.Write(&raw, binary.LittleEndian, pixels.Floats())
	os.WriteFile(bin, raw.Bytes(), 0o644)

	want, _ := quantizeRecord(t, "--data", ref)
	got, res := quantizeRecord(t, "--data", pngs, "--image-size", "8,8", "--mean", "0", "--std", "1", "--color", "RGB", "--layout", "NCHW")
	if got != want {
		t.Errorf("record from the PNG folder differs from the .npy's:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(res.Stdout, "2 batches of 32 samples") {
		t.Errorf("PNG folder: stdout lacks 2 batches of 32 samples:\n%s", res.Stdout)
	}
	got, _ = quantizeRecord(t, "--data", bin, "--input-shape", "1,1,8,8", "--dtype", "float32")
	if got != want {
		t.Errorf("record from the .bin file differs from the .npy's:\n%s\nwant\n%s", got, want)
	}
}

// TestQuantizeBadDataLeavesNoFiles checks the data a new user may bring by
// mistake: a corrupt image, images of mixed sizes without --image-size, a
// .bin file of the wrong length, a folder with no usable file, an empty
// one. Each stops before calibration with an error naming the file and
// what to change, and leaves the output folder empty.
func TestQuantizeBadDataLeavesNoFiles(t *testing.T) {
	t.Parallel()
	imgs, _ := calibPixels(t)
	dir := t.TempDir()
	folder := func(name string, files map[string][]byte) string {
		d := filepath.Join(dir, name)
		os.Mkdir(d, 0o755)
		for n, b := range files {
			os.WriteFile(filepath.Join(d, n), b, 0o644)
		}
		return d
	}
	encode := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	good := encode(imgs[0])
	corrupt := folder("corrupt", map[string][]byte{"a.png": good, "b.png": good[:len(good)/2]})
	mixed := folder("mixed", map[string][]byte{"a.png": good, "b.png": encode(image.NewGray(image.Rect(0, 0, 10, 8)))})
	wrongBin := filepath.Join(dir, "x.bin")
	os.WriteFile(wrongBin, make([]byte, 64*4+3), 0o644)
	unusable := folder("unusable", map[string][]byte{"labels.txt": []byte("0\n"), "calib.npy": nil})
	empty := folder("empty", nil)
	for _, c := range []struct {
		data string
		args []string
		want []string
	}{
		{corrupt, nil, []string{filepath.Join(corrupt, "b.png"), "corrupt image"}},
		{mixed, nil, []string{filepath.Join(mixed, "b.png") + " is 8x10", "takes 8x8", "--image-size"}},
		{mixed, []string{"--image-size", "8,8", "--layout", "NHWC"}, []string{`input "input"`, "8 channels at axis 3 (--layout NHWC)"}},
		{wrongBin, nil, []string{wrongBin + ": 259 bytes, not a multiple of 256", "--input-shape"}},
		{unusable, nil, []string{unusable + ": no usable file", "labels.txt"}},
		{empty, nil, []string{empty + ": no usable file"}},
	} {
		out := filepath.Join(t.TempDir(), "res")
		_, err := amq(t, append([]string{"quantize", "--model", cnnModel(t), "--data", c.data, "--out", filepath.Join(out, "m")}, c.args...)...)
		if err == nil {
			t.Errorf("%s %v: no error", c.data, c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q lacks %q", c.data, c.args, err, w)
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s %v: the failed run left %s (%v)", c.data, c.args, out, err)
		}
	}
}
