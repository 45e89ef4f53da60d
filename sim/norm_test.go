package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

func TestBatchNormalization(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 32))
	x := ewRandFloats(rng, []int{2, 3, 4, 5}, -3, 3)
	scale, bias := ewRandFloats(rng, []int{3}, 0.5, 2), ewRandFloats(rng, []int{3}, -1, 1)
	mean, vr := ewRandFloats(rng, []int{3}, -1, 1), ewRandFloats(rng, []int{3}, 0.1, 2)
	eps := float32(1e-3)
	for _, opset := range []int64{9, 15} {
		got := ewRun1(t, opset, "BatchNormalization", map[string]any{"epsilon": eps}, x, scale, bias, mean, vr)
		xv, _ := float64s(x)
		ref := make([]float64, len(xv))
		for i, v := range xv {
			c := (i / 20) % 3
			ref[i] = (v-float64(mean.Floats()[c]))/math.Sqrt(float64(vr.Floats()[c])+float64(eps))*float64(scale.Floats()[c]) + float64(bias.Floats()[c])
		}
		ewCheckClose(t, "BatchNormalization", got, x.Shape, ref, 1e-6, 1e-6)
	}
	_, err := ewRunOp(15, "BatchNormalization", map[string]any{"training_mode": 1}, 1, 1, x, scale, bias, mean, vr)
	if err == nil || !strings.Contains(err.Error(), "training_mode") || !strings.Contains(err.Error(), `"n"`) {
		t.Errorf("training_mode=1: err = %v, want an error naming the node and the attribute", err)
	}
	_, err = ewRunOp(15, "BatchNormalization", nil, 1, 1, x, ewRandFloats(rng, []int{4}, 0, 1), bias, mean, vr)
	if err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("scale of the wrong size: err = %v", err)
	}
}

func TestInstanceNormalization(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(33, 34))
	x := ewRandFloats(rng, []int{2, 3, 4, 5}, -3, 3)
	scale, bias := ewRandFloats(rng, []int{3}, 0.5, 2), ewRandFloats(rng, []int{3}, -1, 1)
	got := ewRun1(t, 6, "InstanceNormalization", map[string]any{"epsilon": float32(0.01)}, x, scale, bias)
	xv, _ := float64s(x)
	ref := make([]float64, len(xv))
	for p := range 6 {
		plane := xv[p*20 : (p+1)*20]
		m, s := 0.0, 0.0
		for _, v := range plane {
			m += v / 20
		}
		for _, v := range plane {
			s += (v - m) * (v - m) / 20
		}
		for i, v := range plane {
			ref[p*20+i] = (v-m)/math.Sqrt(s+float64(float32(0.01)))*float64(scale.Floats()[p%3]) + float64(bias.Floats()[p%3])
		}
	}
	ewCheckClose(t, "InstanceNormalization", got, x.Shape, ref, 1e-5, 1e-6)
}

func TestLayerNormalization(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(35, 36))
	x := ewRandFloats(rng, []int{2, 3, 4}, -3, 3)
	// A large common offset checks that the variance does not cancel.
	for i := range x.Floats() {
		x.Floats()[i] += 1000
	}
	xv, _ := float64s(x)
	for _, axis := range []int64{-1, 1, 0} {
		a := int(axis+3) % 3
		if axis == 0 {
			a = 0
		}
		rows, size := onnx.NumElems(x.Shape[:a]), onnx.NumElems(x.Shape[a:])
		scale := ewRandFloats(rng, x.Shape[a:], 0.5, 2)
		bias := ewRandFloats(rng, []int{x.Shape[2]}, -1, 1) // broadcast over the normalized dims
		outs, err := ewRunOp(17, "LayerNormalization", map[string]any{"axis": axis, "epsilon": float32(1e-4)}, 3, 2, x, scale, bias)
		if err != nil {
			t.Fatalf("axis %d: %v", axis, err)
		}
		ref := make([]float64, len(xv))
		means, invs := make([]float64, rows), make([]float64, rows)
		for r := range rows {
			row := xv[r*size : (r+1)*size]
			m, s := 0.0, 0.0
			for _, v := range row {
				m += v
			}
			m /= float64(size)
			for _, v := range row {
				s += (v - m) * (v - m)
			}
			inv := 1 / math.Sqrt(s/float64(size)+float64(float32(1e-4)))
			means[r], invs[r] = m, inv
			for i, v := range row {
				ref[r*size+i] = (v-m)*inv*float64(scale.Floats()[i]) + float64(bias.Floats()[i%4])
			}
		}
		ewCheckClose(t, "LayerNormalization Y", outs[0], x.Shape, ref, 1e-5, 1e-5)
		statShape := slices.Clone(x.Shape)
		for d := a; d < 3; d++ {
			statShape[d] = 1
		}
		ewCheckClose(t, "LayerNormalization Mean", outs[1], statShape, means, 1e-7, 0)
		ewCheckClose(t, "LayerNormalization InvStdDev", outs[2], statShape, invs, 1e-6, 0)
		if outs[1].DType != onnx.Float || outs[2].DType != onnx.Float {
			t.Errorf("stash outputs have types %v, %v, want FLOAT", outs[1].DType, outs[2].DType)
		}
	}
	// Without B, and with stash_type 11.
	scale := ewRandFloats(rng, []int{4}, 0.5, 2)
	outs, err := ewRunOp(17, "LayerNormalization", map[string]any{"stash_type": 11}, 2, 1, x, scale)
	if err != nil {
		t.Fatal(err)
	}
	if outs[1].DType != onnx.Double {
		t.Errorf("Mean with stash_type 11 has type %v, want DOUBLE", outs[1].DType)
	}
	if _, err := ewRunOp(17, "LayerNormalization", map[string]any{"stash_type": 10}, 1, 1, x, scale); err == nil || !strings.Contains(err.Error(), "stash_type") {
		t.Errorf("stash_type 10: err = %v", err)
	}
	if _, err := ewRunOp(17, "LayerNormalization", nil, 1, 1, x, ewRandFloats(rng, []int{3}, 0, 1)); err == nil || !strings.Contains(err.Error(), "Scale") {
		t.Errorf("Scale [3] for a last dim of 4: err = %v", err)
	}
}

// normalizeRowByRow is normalizeRows as it was before rows were summed
// eight at a time: each row's statistics in its own loops.
func normalizeRowByRow(x []float32, rows, size int, eps float64, sc, sh []float64) (y []float32, means, invs []float64) {
	y = make([]float32, len(x))
	for r := range rows {
		xs := x[r*size : (r+1)*size]
		sum := 0.0
		for _, v := range xs {
			sum += float64(v)
		}
		mean := sum / float64(size)
		ss := 0.0
		for _, v := range xs {
			d := float64(v) - mean
			ss += float64(d * d)
		}
		inv := 1 / math.Sqrt(ss/float64(size)+eps)
		means, invs = append(means, mean), append(invs, inv)
		for i, v := range xs {
			if sh != nil {
				y[r*size+i] = float32(float64((float64(v)-mean)*inv*sc[i]) + sh[i])
			} else {
				y[r*size+i] = float32((float64(v) - mean) * inv * sc[i])
			}
		}
	}
	return y, means, invs
}

// TestNormalizeRowsGroupedEqualsRowByRow: the statistics summed eight
// rows at a time and the vector affine pass give the bits of the row by
// row loops, for row counts and lengths around the groups and vectors,
// NaN, infinities, denormals and large offsets included, with one and two
// threads.
func TestNormalizeRowsGroupedEqualsRowByRow(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(41, 42))
	for _, sh := range [][2]int{{1, 768}, {7, 5}, {8, 8}, {9, 33}, {19, 37}, {24, 768}, {17, 1}} {
		rows, size := sh[0], sh[1]
		x := vecTestValues(r, rows*size)
		for i := range x {
			switch r.IntN(40) {
			case 0:
				x[i] = 1e-40 // denormal
			case 1:
				x[i] += 3000
			}
		}
		// Rows without NaN or infinity too, so that finite statistics are
		// compared.
		for i := range x[:len(x)/2] {
			if math.IsNaN(float64(x[i])) || math.IsInf(float64(x[i]), 0) || x[i] == math.MaxFloat32 {
				x[i] = 0.5
			}
		}
		sc, shift := make([]float64, size), make([]float64, size)
		for i := range sc {
			sc[i], shift[i] = float64(float32(r.NormFloat64())), float64(float32(r.NormFloat64()))
		}
		for _, threads := range []int{1, 2} {
			for _, withShift := range []bool{true, false} {
				aff := [2][]float64{sc, shift}
				var shv []float64
				if withShift {
					shv = shift
				} else {
					aff[1] = nil
				}
				stats := [2][]float64{make([]float64, rows), make([]float64, rows)}
				got := normalizeRows(&runCtx{threads: threads}, x, rows, size, 1e-5, nil, &aff, &stats)
				want, means, invs := normalizeRowByRow(x, rows, size, 1e-5, sc, shv)
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("[%d, %d] threads %d shift %v: element %d is %v, row by row %v", rows, size, threads, withShift, i, got[i], want[i])
				}
				for k := range rows {
					if !sameFloat64(stats[0][k], means[k]) || !sameFloat64(stats[1][k], invs[k]) {
						t.Fatalf("[%d, %d] row %d: mean, inv %v %v, row by row %v %v", rows, size, k, stats[0][k], stats[1][k], means[k], invs[k])
					}
				}
			}
		}
	}
}

// sameFloat64 reports whether a and b have the same bits or are both NaN.
func sameFloat64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}
