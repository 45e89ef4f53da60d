package main

import (
	"fmt"
	"path/filepath"

	"amq/internal/atomicfile"
	"amq/onnx"
	"amq/quant"
)

// loadModelConfig reads the model and the JSON quant config that
// preprocess, calibrate and save take.
func loadModelConfig(modelPath, configPath string) (*onnx.Model, *quant.Config, error) {
	// float16 weights stay 16-bit: quant widens one layer's at a time.
	m, err := onnx.LoadFileHalves(modelPath)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := quant.ReadConfig(configPath)
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// prepare readies m with cfg as every step of the flow does
// (quant.Prepare).
func prepare(m *onnx.Model, cfg *quant.Config, modelPath, configPath string) (*quant.Prepared, error) {
	p, err := quant.Prepare(m, cfg, quant.PrepareOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s with %s: %w", modelPath, configPath, err)
	}
	return p, nil
}

// checkOutput fails at once when the folder of an output path (a file or
// a prefix such as results/m) cannot take new files, rather than after
// minutes of calibration.
func checkOutput(path string) error {
	return atomicfile.CheckWritable(filepath.Dir(path))
}
