package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkGEMM(b *testing.B) {
	shapes := [][3]int{{512, 512, 512}, {64, 3136, 576}, {256, 196, 2304}}
	for _, kern := range availableKernels() {
		for _, sh := range shapes {
			for _, threads := range []int{1, 2} {
				m, n, k := sh[0], sh[1], sh[2]
				b.Run(fmt.Sprintf("%s/%dx%dx%d/threads=%d", kern.name, m, n, k, threads), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 1))
					a, bb := randFloats(r, m*k), randFloats(r, k*n)
					c := make([]float32, m*n)
					for b.Loop() {
						sgemmWith(kern, m, n, k, 1, matrix{data: a, ld: k}, matrix{data: bb, ld: n}, 0, c, n, threads)
					}
					b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
