//go:build !purego

package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpAVX2IsMathExp checks the AVX2 exp kernel, which expVec does not
// pick on a machine with AVX-512, against math.Exp.
func TestExpAVX2IsMathExp(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 on this machine")
	}
	r := rand.New(rand.NewPCG(12, 12))
	src := make([]float64, 4096)
	for i := range src {
		src[i] = (r.Float64() - 0.5) * 1400
		if i%7 == 0 {
			src[i] = r.NormFloat64() * 5
		}
	}
	src[0], src[1], src[2], src[3] = math.Inf(-1), -1000, -746.5, -2
	got := make([]float64, len(src))
	if vecExpAVX2(&got[0], &src[0], len(src)) != 0 {
		t.Fatal("kernel reports lanes to redo, there are none in range")
	}
	for i, v := range src {
		if !expEasy(v) {
			continue
		}
		if math.Float64bits(got[i]) != math.Float64bits(math.Exp(v)) {
			t.Fatalf("exp(%v) = %v, math.Exp gives %v", v, got[i], math.Exp(v))
		}
	}
	src[5] = math.NaN()
	if vecExpAVX2(&got[0], &src[0], 8) == 0 {
		t.Error("kernel does not report NaN as a lane to redo")
	}
}
