package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"amq/internal/cputime"
	"amq/onnx"
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
					// One thread runs on this goroutine: its CPU time
					// is the kernel's, whatever else the machine does.
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					cpu0 := threadCPU()
					for b.Loop() {
						sgemmWith(kern, m, n, k, 1, matrix{data: a, ld: k}, matrix{data: bb, ld: n}, 0, c, n, threads)
					}
					flops := 2 * float64(m*n*k) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu := threadCPU() - cpu0; threads == 1 && cpu > 0 {
						b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/s-cpu")
					}
				})
			}
		}
	}
}

// BenchmarkMatMulPacked runs the MatMul of a constant B (packed once, as
// a session keeps it) with a bias, for a BERT-base layer's shapes: 128
// tokens (batch 1) or 1024 (batch 8) by the attention's and the feed-
// forward's weights, which come from L3 on every run.
func BenchmarkMatMulPacked(b *testing.B) {
	for _, sh := range [][3]int{{128, 768, 768}, {128, 768, 3072}, {128, 3072, 768}, {1024, 768, 768}} {
		for _, threads := range []int{1, 2} {
			m, k, n := sh[0], sh[1], sh[2]
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, k, n, threads), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				a, w, bias := randFloats(r, m*k), randFloats(r, k*n), randFloats(r, n)
				y := make([]float32, m*n)
				var cache atomic.Pointer[packedB]
				p := packedWeight(&cache, w, k, n)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := threadCPU()
				for b.Loop() {
					p.multiply(a, m, y, bias, threads)
				}
				flops := 2 * float64(m*n*k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := threadCPU() - cpu0; threads == 1 && cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/s-cpu")
				}
			})
		}
	}
}

// BenchmarkConv3x3 runs 3x3, pad 1 convolutions of ResNet-18/50 stages
// through the Conv operator (im2col + GEMM), batch 1 and 8.
func BenchmarkConv3x3(b *testing.B) {
	type shape struct{ c, m, hw, stride int }
	shapes := []shape{{64, 64, 56, 1}, {128, 128, 28, 1}, {256, 256, 14, 1}, {128, 256, 28, 2}}
	for _, batch := range []int{1, 8} {
		for _, sh := range shapes {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("n%d_c%d_m%d_%dx%d_s%d/threads=%d", batch, sh.c, sh.m, sh.hw, sh.hw, sh.stride, threads)
				b.Run(name, func(b *testing.B) {
					r := rand.New(rand.NewPCG(2, 2))
					x := onnx.NewTensor([]int{batch, sh.c, sh.hw, sh.hw}, randFloats(r, batch*sh.c*sh.hw*sh.hw))
					w := onnx.NewTensor([]int{sh.m, sh.c, 3, 3}, randFloats(r, sh.m*sh.c*9))
					bias := onnx.NewTensor([]int{sh.m}, randFloats(r, sh.m))
					n := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}}
					n.SetAttr("pads", []int64{1, 1, 1, 1})
					n.SetAttr("strides", []int64{int64(sh.stride), int64(sh.stride)})
					fn, err := buildConv(&buildCtx{opset: 13, graph: &onnx.Graph{Nodes: []*onnx.Node{n}}}, n)
					if err != nil {
						b.Fatal(err)
					}
					c := &runCtx{threads: threads}
					out := (sh.hw + sh.stride - 1) / sh.stride
					flops := 2 * float64(batch*sh.m*out*out*sh.c*9)
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					cpu0 := threadCPU()
					for b.Loop() {
						if _, err := fn(c, []*onnx.Tensor{x, w, bias}); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu := threadCPU() - cpu0; threads == 1 && cpu > 0 {
						b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/s-cpu")
					}
				})
			}
		}
	}
}

// BenchmarkConvInt8 runs the int8 Conv of a deploy model (exact int32
// result through float32 GEMM slices) on a ResNet stage-1 shape.
func BenchmarkConvInt8(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	c, m, hw := 64, 64, 56
	xq := make([]int8, c*hw*hw)
	for i := range xq {
		xq[i] = int8(r.IntN(256) - 128)
	}
	wq := make([]int8, m*c*9)
	for i := range wq {
		wq[i] = int8(r.IntN(256) - 128)
	}
	q := &onnx.Node{Name: "q", OpType: "AscendQuant", Inputs: []string{"xf"}, Outputs: []string{"x"}}
	q.SetAttr("offset", float32(-7))
	n := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}}
	n.SetAttr("pads", []int64{1, 1, 1, 1})
	fn, err := buildConv(&buildCtx{opset: 11, graph: &onnx.Graph{Nodes: []*onnx.Node{q, n}}}, n)
	if err != nil {
		b.Fatal(err)
	}
	in := []*onnx.Tensor{onnx.NewTensor([]int{1, c, hw, hw}, xq), onnx.NewTensor([]int{m, c, 3, 3}, wq), onnx.NewTensor([]int{m}, make([]int32, m))}
	ctx := &runCtx{threads: 1}
	for b.Loop() {
		if _, err := fn(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(m*hw*hw*c*9)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
}

// threadCPU is the CPU time the calling OS thread has used, or 0 where it
// is not read. On a machine shared with other work it times
// single-threaded kernels more steadily than the wall clock.
func threadCPU() time.Duration {
	d, _ := cputime.Thread()
	return d
}
