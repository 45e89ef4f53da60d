package quant

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/onnx/opset"
)

// paddleClassifier returns the path of PaddleOCR's text direction
// classifier (Paddle2ONNX, opset 9), which scripts/fetch-ocr-models.sh
// puts in amq's cache, ending the test with testfixture.Missing when it is
// not there.
func paddleClassifier(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("AMQ_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "amq")
	}
	path := filepath.Join(cache, "ocr-models-1.4.2", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
	if _, err := os.Stat(path); err != nil {
		testfixture.Missing(t, "PaddleOCR classifier not fetched (bash scripts/fetch-ocr-models.sh): %v", err)
	}
	return path
}

// textLines returns n synthetic text-line crops as the classifier takes
// them: [n, 3, 48, 192], pixels scaled to [0, 1] and normalized with mean
// and std 0.5 (PaddleOCR's preprocessing), so in [-1, 1]. Each is a light,
// noisy background with a row of dark glyph-like strokes of random widths
// and heights on a baseline, ascenders above it; every other line is turned
// by 180 degrees, the case the classifier exists for.
func textLines(n int, seed uint64) *onnx.Tensor {
	const c, h, w = 3, 48, 192
	r := rand.New(rand.NewPCG(seed, 7))
	data := make([]float32, n*c*h*w)
	for i := range n {
		img := make([]float64, h*w)
		bg := 0.8 + 0.15*r.Float64()
		for k := range img {
			img[k] = bg + 0.03*r.NormFloat64()
		}
		ink := 0.1 + 0.2*r.Float64()
		base := 30 + r.IntN(6)
		for x := 4 + r.IntN(8); x < w-8; {
			gw, top := 3+r.IntN(8), base-10-r.IntN(6)
			if r.IntN(4) == 0 {
				top -= 8 // an ascender
			}
			for y := top; y < base; y++ {
				for dx := range gw {
					if r.IntN(5) > 0 { // ragged strokes
						img[y*w+x+dx] = ink
					}
				}
			}
			x += gw + 2 + r.IntN(6)
		}
		flip := i%2 == 1
		for ch := range c {
			tint := 0.02 * float64(ch)
			for y := range h {
				for x := range w {
					v := img[y*w+x]
					if flip {
						v = img[(h-1-y)*w+(w-1-x)]
					}
					data[((i*c+ch)*h+y)*w+x] = float32((v + tint - 0.5) / 0.5)
				}
			}
		}
	}
	return onnx.NewTensor([]int{n, c, h, w}, data)
}

// TestQuantizePaddleOCRClassifier quantizes a model no one here wrote,
// at an old opset: PaddleOCR's direction classifier, exported by
// Paddle2ONNX at opset 9 with a dynamic batch, height and width
// (Clip-6 in its hard-swish activations, Slice-1 in its shape arithmetic).
// The batch size is given; calibration uses 32 synthetic text lines. On
// 32 other lines, the upgraded float model in sim equals the original in
// ONNX Runtime (within 1e-4 of the output scale), and the fake-quant model in ONNX Runtime has
// an output SQNR of at least 16 dB against the float model and gives every
// line the float model is sure of (probability >= 0.75) the same class.
//
// 16 dB: this flow measures 17.7 dB here. Per-layer SQNR falls from 48 dB
// at the first Conv to 18 dB at the final MatMul, as usual for an int8
// MobileNetV3 (hard-swish, squeeze-excite) with per-tensor activations;
// halving one layer's activation range (clipping) costs 1.5 to 9 dB at the
// output, so 16 dB catches a miscalibrated layer and leaves 1.7 dB for
// float rounding that differs across CPUs. A conversion error changes the
// float function itself and shows in the sim check.
func TestQuantizePaddleOCRClassifier(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	m, err := onnx.LoadFile(paddleClassifier(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset() != 9 {
		t.Fatalf("classifier of opset %d, want 9", m.Opset())
	}
	calib, test := textLines(32, 1), textLines(32, 2)
	in := m.Graph.Inputs[0].Name
	data, err := NewTensorSource(map[string]*onnx.Tensor{in: calib}, 8)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "cls"), QuantizeOptions{BatchNum: 4, NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Opset() != opset.Target {
		t.Errorf("fake-quant model of opset %d", fake.Opset())
	}
	if len(rep.Layers) < 50 {
		t.Errorf("%d layers quantized, want the classifier's 54 Conv and MatMul layers but few", len(rep.Layers))
	}

	ref := ortOutput(t, m, test)
	up, err := opset.Upgrade(m, opset.Target)
	if err != nil {
		t.Fatal(err)
	}
	s, err := testSim.Prepare(up, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	simOut, err := s.Run(map[string]*onnx.Tensor{in: test})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := testfixture.CompareToReference(simOut[m.Graph.Outputs[0].Name], ref, 1e-4); err != nil {
		t.Errorf("upgraded model in sim vs original in ONNX Runtime: %v", err)
	}

	got := ortOutput(t, fake, test)
	db := sqnrDB(t, ref, got)
	sure, agree := 0, 0
	p, q := ref.Floats(), got.Floats()
	for i := range test.Shape[0] {
		if max(p[2*i], p[2*i+1]) < 0.75 {
			continue
		}
		sure++
		if (p[2*i] > p[2*i+1]) == (q[2*i] > q[2*i+1]) {
			agree++
		}
	}
	t.Logf("%d layers quantized; fake-quant output SQNR %.1f dB; %d of the %d lines the float model is sure of in the same class", len(rep.Layers), db, agree, sure)
	if db < 16 {
		t.Errorf("fake-quant output SQNR %.1f dB, want at least 16", db)
	}
	if sure < test.Shape[0]/2 || agree != sure {
		t.Errorf("fake-quant model gives %d of the %d lines the float model is sure of its class (of %d lines)", agree, sure, test.Shape[0])
	}
}
