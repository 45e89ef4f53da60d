//go:build cgo

// Command ortrun loads a model in ONNX Runtime and runs it once on .npy
// inputs, printing the load and run times as `amq run` prints them, so
// that scripts/bench-llm.sh can set ONNX Runtime beside sim in one table
// (peak memory comes from /usr/bin/time around either process).
//
//	go run ./bench/ortrun --model m.onnx --input tokens.npy [--output y.npy] [--threads N]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"amq/internal/ort"
	"amq/npy"
	"amq/onnx"
)

func main() {
	model := flag.String("model", "", "ONNX model file")
	input := flag.String("input", "", ".npy file for the model's first input")
	output := flag.String("output", "", ".npy file for the model's first output (optional)")
	threads := flag.Int("threads", 0, "intra-op threads (0: ONNX Runtime's choice)")
	flag.Parse()
	if err := run(*model, *input, *output, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "ortrun:", err)
		os.Exit(1)
	}
}

func run(model, input, output string, threads int) error {
	x, err := npy.ReadFile(input)
	if err != nil {
		return err
	}
	if err := ort.Available(); err != nil {
		return err
	}
	start := time.Now()
	s, err := ort.NewSession(model, &ort.Options{Threads: threads})
	if err != nil {
		return err
	}
	defer s.Close()
	loaded := time.Since(start)
	start = time.Now()
	out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0]: x})
	if err != nil {
		return err
	}
	ran := time.Since(start)
	first := s.Outputs()[0]
	if output != "" {
		if err := npy.WriteFile(output, out[first]); err != nil {
			return err
		}
	}
	fmt.Printf("%s\t%v\t%v\n", first, out[first].Shape, out[first].DType)
	fmt.Printf("load %v, run %v (ONNX Runtime)\n", loaded.Round(time.Microsecond), ran.Round(time.Microsecond))
	return nil
}
