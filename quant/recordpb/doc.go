// Package recordpb holds the Go types generated from record.proto, the
// schema of the record file: per-layer DMQ balance factors and activation
// and weight quantization factors (scale_d, offset_d, scale_w, offset_w),
// compatible with AMCT's record files.
//
// The file is protobuf text format; package quant writes it after
// calibration and reads it when saving models. Regenerate with
// scripts/gen-proto.sh.
package recordpb
