// Command models writes one of bench's generated models with a fixed batch
// dimension and fixed random weights, for scripts that time amq's commands
// as processes (scripts/bench-run.sh).
//
//	go run ./bench/cmd/models -model resnet18|bert|convstack -batch 8 -out m.onnx
package main

import (
	"flag"
	"fmt"
	"os"

	"amq/bench"
	"amq/onnx"
)

func main() {
	name := flag.String("model", "resnet18", "resnet18, bert (one BERT-base layer, sequence 128) or convstack (10 MB of 3x3 convolutions)")
	batch := flag.Int("batch", 1, "the model's batch dimension")
	out := flag.String("out", "", "output .onnx file")
	flag.Parse()
	if err := write(*name, *batch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "models:", err)
		os.Exit(1)
	}
}

func write(name string, batch int, out string) error {
	if out == "" || batch < 1 {
		return fmt.Errorf("-out and a positive -batch are required")
	}
	var m *onnx.Model
	switch name {
	case "resnet18":
		m = bench.ResNet18(batch, 1)
	case "bert":
		m = bench.BERTLayer(batch, 128, 1)
	case "convstack":
		m = bench.ConvStack(batch, 17, 1)
	default:
		return fmt.Errorf("-model %q: want resnet18, bert or convstack", name)
	}
	return m.Save(out, nil)
}
