package sim

import (
	"strings"
	"testing"

	"amq/onnx"
)

// TestResizeAgainstHandValues checks linear and nearest Resize on values
// worked out by hand, and that antialias is refused.
func TestResizeAgainstHandValues(t *testing.T) {
	t.Parallel()
	// 1-D linear upsampling by 2 with half_pixel (PyTorch's
	// interpolate(mode="linear", align_corners=False)): output j reads
	// input (j+0.5)/2-0.5 = -0.25, 0.25, 0.75, 1.25, ...; edges clamp.
	x := onnx.NewTensor([]int{1, 1, 3}, []float32{0, 4, 8})
	n := shpNode("Resize", []string{"x", "", "sc"}, []string{"y"}, map[string]any{"mode": "linear"})
	out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "sc": onnx.NewTensor([]int{3}, []float32{1, 1, 2})}, "sc")
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "linear", out[0], []int{1, 1, 6}, []float32{0, 1, 3, 5, 7, 8})
	// Nearest on int8 data with sizes, asymmetric + floor: j*3/6.
	q := onnx.NewTensor([]int{1, 3}, []int8{-5, 0, 7})
	n = shpNode("Resize", []string{"x", "", "", "sz"}, []string{"y"}, map[string]any{"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": q, "sz": shpInts(1, 6)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "nearest int8", out[0], []int{1, 6}, []int8{-5, -5, 0, 0, 7, 7})
	n = shpNode("Resize", []string{"x", "", "sc"}, []string{"y"}, map[string]any{"antialias": int64(1), "mode": "linear"})
	if _, err := shpRun(t, 18, n, map[string]*onnx.Tensor{"x": x, "sc": onnx.NewTensor([]int{3}, []float32{1, 1, 2})}); err == nil || !strings.Contains(err.Error(), "antialias") {
		t.Errorf("antialias: error %v", err)
	}
}
