package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"amq/npy"
	"amq/onnx"
	"amq/quant"
)

// loadData reads the calibration samples of --data for the inputs of g (a
// .npy for a single-input model, a .npz with one array per input) and cuts
// them into batches of size samples; size 0 means the model's fixed batch
// dimension. Samples that do not fill a last batch are noted on w.
func loadData(g *onnx.Graph, path string, size int, w io.Writer) (*quant.TensorSource, error) {
	if size < 0 {
		return nil, fmt.Errorf("--batch-size %d: must be at least 1", size)
	}
	arrays, err := readSamples(g, path)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		for _, in := range g.Inputs {
			if len(in.Shape) > 0 && in.Shape[0].Known() {
				size = int(in.Shape[0].Value)
				break
			}
		}
	}
	if size <= 0 {
		return nil, fmt.Errorf("the model's batch dimension is not fixed: give --batch-size")
	}
	src, err := quant.NewTensorSource(arrays, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n := src.Dropped(); n > 0 {
		fmt.Fprintf(w, "note: %s: the last %d samples do not fill a batch of %d and are not used\n", path, n, size)
	}
	return src, nil
}

// readSamples reads the arrays of path for the inputs of g, by input name.
func readSamples(g *onnx.Graph, path string) (map[string]*onnx.Tensor, error) {
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("the model has no inputs")
	}
	arrays := map[string]*onnx.Tensor{}
	if !strings.EqualFold(filepath.Ext(path), ".npz") {
		if len(g.Inputs) != 1 {
			return nil, fmt.Errorf("the model has %d inputs: give --data as a .npz with one array per input", len(g.Inputs))
		}
		t, err := npy.ReadFile(path)
		if err != nil {
			return nil, err
		}
		arrays[g.Inputs[0].Name] = t
		return arrays, nil
	}
	all, err := npy.ReadNPZFile(path)
	if err != nil {
		return nil, err
	}
	for _, in := range g.Inputs {
		t, ok := all[in.Name]
		if !ok {
			return nil, fmt.Errorf("%s has no array for model input %q", path, in.Name)
		}
		arrays[in.Name] = t
	}
	return arrays, nil
}
