package opset

import (
	"fmt"

	"amq/onnx"
)

// Operators that lost attributes or changed name: BatchNormalization (9),
// Dropout (10), Scatter (11, renamed ScatterElements), Scan (9).

// batchNorm: BatchNormalization-7 has spatial; 1, the default, is the
// per-channel normalization of opset 9 on. is_test and consumed_inputs
// were dropped in opsets 7 and 6 but are left behind by old exporters:
// they say nothing the outputs do not (a node with one output runs in
// inference mode).
func batchNorm(u *upgrader, n *onnx.Node) error {
	spatial, err := attrOf(n, "spatial", onnx.AttrInt)
	if err != nil {
		return err
	}
	if spatial != nil && spatial.I != 1 {
		return fmt.Errorf("spatial = %d (statistics per activation, not per channel) has no opset-11 form", spatial.I)
	}
	for _, name := range []string{"spatial", "is_test", "consumed_inputs"} {
		delete(n.Attrs, name)
	}
	return nil
}

// dropout: Dropout-7's mask has the input's type, Dropout-10's is bool, so
// a mask that is read cannot be converted. A stale is_test (dropped in
// opset 7) goes; ratio stays (an attribute up to opset 11).
func dropout(u *upgrader, n *onnx.Node) error {
	if len(n.Outputs) > 1 {
		if mask := n.Outputs[1]; mask != "" && (len(u.g.Consumers(mask)) > 0 || u.g.IsOutput(mask)) {
			return fmt.Errorf("its mask %q is read, and the mask's type changes from the input's to bool in opset 10", mask)
		}
	}
	delete(n.Attrs, "is_test")
	return nil
}

// scatter: Scatter is deprecated in opset 11 in favour of ScatterElements,
// which has the same inputs, attribute and meaning.
func scatter(u *upgrader, n *onnx.Node) error {
	n.OpType = "ScatterElements"
	return nil
}

// scan8: Scan-8 has a batch axis and sequence_lens that Scan-9 dropped.
func scan8(u *upgrader, n *onnx.Node) error {
	return fmt.Errorf("Scan-8 (batch axis, sequence_lens) has no opset-11 form")
}
