package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestGlobalPoolFoldsInOrder checks GlobalAveragePool and GlobalMaxPool
// against the plain folds over each plane, bit for bit and NaN payloads
// too: a float64 sum in order divided by the size, and Go's max from
// -Inf. Planes hold NaN of several payloads, signed zeros, infinities
// and zeros only; their counts cover groups of four planes and tails,
// their sizes empty planes too; float32 and float64.
func TestGlobalPoolFoldsInOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(51, 52))
	specials := []float64{math.Float64frombits(0x7ff8000000000001), math.Float64frombits(0xfff8000000000002), 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1)}
	for _, isMax := range []bool{false, true} {
		op := map[bool]string{false: "GlobalAveragePool", true: "GlobalMaxPool"}[isMax]
		fn, err := buildGlobalPool(isMax)(&buildCtx{opset: 13, graph: &onnx.Graph{}}, node(op, nil, "x"))
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range [][]int{{1, 1, 1, 1}, {1, 3, 0, 4}, {2, 3, 2, 2}, {1, 9, 7, 7}, {3, 5, 50}, {1, 17, 3, 3}} {
			n := onnx.NumElems(sh)
			x64 := make([]float64, n)
			for i := range x64 {
				x64[i] = r.NormFloat64()
				switch k := r.IntN(12); {
				case k == 0:
					x64[i] = specials[r.IntN(len(specials))]
				case k == 1:
					x64[i] = 0 // planes of zeros and signed zeros
				}
			}
			if n > 0 && sh[1] > 2 {
				// One plane of zeros of both signs only.
				size := n / (sh[0] * sh[1])
				for i := range size {
					x64[size+i] = []float64{0, math.Copysign(0, -1)}[r.IntN(2)]
				}
			}
			x32 := make([]float32, n)
			for i, v := range x64 {
				x32[i] = float32(v)
			}
			for _, x := range []*onnx.Tensor{onnx.NewTensor(sh, x32), onnx.NewTensor(sh, x64)} {
				name := fmt.Sprintf("%s %v %v", op, sh, x.DType)
				out, err := fn(&runCtx{threads: 2}, []*onnx.Tensor{x})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				planes := sh[0] * sh[1]
				size := n / planes
				for pl := range planes {
					var got, want uint64
					switch d := x.Data.(type) {
					case []float32:
						got = uint64(math.Float32bits(out[0].Data.([]float32)[pl]))
						want = uint64(math.Float32bits(globalFold(d[pl*size:(pl+1)*size], isMax)))
					case []float64:
						got = math.Float64bits(out[0].Data.([]float64)[pl])
						want = math.Float64bits(globalFold(d[pl*size:(pl+1)*size], isMax))
					}
					if got != want {
						t.Fatalf("%s: plane %d has bits %#x, the fold %#x", name, pl, got, want)
					}
				}
			}
		}
	}
}

// globalFold is one plane's global pool as a plain fold.
func globalFold[T float32 | float64](src []T, isMax bool) T {
	if isMax {
		best := T(math.Inf(-1))
		for _, v := range src {
			best = max(best, v)
		}
		return best
	}
	var sum float64
	for _, v := range src {
		sum += float64(v)
	}
	if len(src) == 0 {
		return 0
	}
	return T(sum / float64(len(src)))
}
