package backend

import (
	"fmt"
	"strings"
)

// Precision is one of ATC's --precision_mode values: how the NPU's compiler
// picks between float16 and float32 for the float operators of a model
// (docs/design.md "NPU numerics"). The zero value, PrecisionDefault, is the
// backend's own default: float32 in sim, ATC's own default (force_fp16 for
// inference) on the NPU, since amq then passes no --precision_mode.
type Precision string

// The precision modes amq emulates, spelled as ATC takes them.
const (
	PrecisionDefault    Precision = ""
	ForceFP16           Precision = "force_fp16"
	ForceFP32           Precision = "force_fp32"
	MustKeepOriginDtype Precision = "must_keep_origin_dtype"
	AllowFP32ToFP16     Precision = "allow_fp32_to_fp16"
)

// Precisions lists the modes ParsePrecision accepts.
func Precisions() []Precision {
	return []Precision{ForceFP16, ForceFP32, MustKeepOriginDtype, AllowFP32ToFP16}
}

// ParsePrecision reads a precision mode as ATC spells it; "" is
// PrecisionDefault.
func ParsePrecision(s string) (Precision, error) {
	if s == "" {
		return PrecisionDefault, nil
	}
	var names []string
	for _, p := range Precisions() {
		if s == string(p) {
			return p, nil
		}
		names = append(names, string(p))
	}
	return "", fmt.Errorf("precision mode %q is not one of %s", s, strings.Join(names, ", "))
}

// FP16Stat counts what reading or writing one tensor as float16 did to its
// values: the finite values that became ±Inf (|x| ≥ 65520, the first value
// that rounds past fp16's largest, 65504) and the non-zero values that
// became 0 (|x| ≤ 2^-25). Node is the node that computes in float16: the
// producer for an output it rounds, the consumer for an input it reads as
// float16 (a graph input, a constant, or the output of a float32 node).
type FP16Stat struct {
	Node     string
	OpType   string
	Tensor   string
	Elements int64 // values rounded
	// Overflow counts finite values that became ±Inf; Underflow non-zero
	// values that became 0.
	Overflow, Underflow int64
	// MaxAbs is the largest finite |x| before rounding.
	MaxAbs float64
}

// BulkUnderflow is the share of a tensor's values that must flush to zero
// for Flagged to report it: a few tiny values (the tail of a softmax) are
// normal, a tenth of a tensor is not.
const BulkUnderflow = 0.1

// Flagged reports whether s is worth a user's attention: any overflow, or
// at least BulkUnderflow of the values flushed to zero.
func (s FP16Stat) Flagged() bool {
	return s.Overflow > 0 || (s.Elements > 0 && float64(s.Underflow) >= BulkUnderflow*float64(s.Elements))
}

// FP16Reporter is implemented by runners that emulate the NPU's float16
// numerics (sim under a precision mode). FP16Stats returns one entry per
// tensor rounded to float16, in graph order, summed over every Run so far.
type FP16Reporter interface {
	FP16Stats() []FP16Stat
}
