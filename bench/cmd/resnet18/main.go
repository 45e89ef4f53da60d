// Command resnet18 writes bench's ResNet-18 (fixed random weights, a fixed
// batch dimension) and random calibration samples, for scripts that time
// amq's commands on a full-size model (scripts/bench-shard.sh).
//
//	go run ./bench/cmd/resnet18 -batch 8 -samples 32 -out DIR
//
// writes DIR/resnet18.onnx and DIR/calib.npy (float32 [samples, 3, 224, 224],
// standard normal).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"amq/bench"
	"amq/npy"
	"amq/onnx"
)

func main() {
	batch := flag.Int("batch", 8, "the model's batch dimension")
	samples := flag.Int("samples", 32, "calibration samples to write")
	out := flag.String("out", ".", "output folder")
	flag.Parse()
	if err := write(*batch, *samples, *out); err != nil {
		fmt.Fprintln(os.Stderr, "resnet18:", err)
		os.Exit(1)
	}
}

func write(batch, samples int, out string) error {
	if err := bench.ResNet18(batch, 1).Save(filepath.Join(out, "resnet18.onnx"), nil); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, samples*3*224*224)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return npy.WriteFile(filepath.Join(out, "calib.npy"), onnx.NewTensor([]int{samples, 3, 224, 224}, x))
}
