// Command randinput writes a float32 .npy of standard normal values of a
// given shape (bench.RandomInput, fixed seed), the input scripts time amq
// and ONNX Runtime on (scripts/bench-run.sh).
//
//	go run ./bench/cmd/randinput -shape 8,3,48,320 -out x.npy
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"amq/bench"
	"amq/npy"
)

func main() {
	shape := flag.String("shape", "", "comma-separated dimensions, e.g. 8,3,48,320")
	seed := flag.Uint64("seed", 20240601, "random seed")
	out := flag.String("out", "", "output .npy file")
	flag.Parse()
	if err := write(*shape, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "randinput:", err)
		os.Exit(1)
	}
}

func write(shape string, seed uint64, out string) error {
	if shape == "" || out == "" {
		return fmt.Errorf("-shape and -out are required")
	}
	var dims []int
	for _, f := range strings.Split(shape, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return fmt.Errorf("-shape %q: dimension %q is not a positive integer", shape, f)
		}
		dims = append(dims, d)
	}
	return npy.WriteFile(out, bench.RandomInput(seed, dims...))
}
