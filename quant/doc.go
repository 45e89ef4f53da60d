// Package quant implements AMCT's post-training quantization flow for ONNX
// models: the quant config, DMQ balance preprocessing, activation and weight
// calibration, the record file, and the fake-quant and deploy models.
//
// The steps mirror AMCT's API: CreateQuantConfig, Preprocess (balance
// factors), Calibrate (quant factors) and Save. Forward passes go through a
// backend.Backend, which the caller provides (sim, or the Ascend NPU).
package quant
