package opset

import (
	"fmt"

	"amq/onnx"
	"amq/onnx/onnxpb"
)

// Subgraphs (If, Loop and Scan bodies) are kept as protos by package onnx
// and are not converted: a subgraph whose nodes all keep their form is
// fine at opset 11, one that holds a node needing conversion is refused,
// naming that node.

// checkSubgraphs returns an error naming the first node of n's subgraphs
// that would need converting from opset from.
func checkSubgraphs(n *onnx.Node, from int64) error {
	for _, a := range n.Attrs {
		if a.Proto == nil {
			continue
		}
		graphs := a.Proto.GetGraphs()
		if g := a.Proto.GetG(); g != nil {
			graphs = append([]*onnxpb.GraphProto{g}, graphs...)
		}
		for _, g := range graphs {
			if err := checkGraphProto(g, from); err != nil {
				return fmt.Errorf("subgraph %s: %w", a.Name, err)
			}
		}
	}
	return nil
}

func checkGraphProto(g *onnxpb.GraphProto, from int64) error {
	for _, np := range g.GetNode() {
		for _, ap := range np.GetAttribute() {
			sub := ap.GetGraphs()
			if ap.GetG() != nil {
				sub = append([]*onnxpb.GraphProto{ap.GetG()}, sub...)
			}
			for _, sg := range sub {
				if err := checkGraphProto(sg, from); err != nil {
					return fmt.Errorf("%s node %q: subgraph %s: %w", np.GetOpType(), np.GetName(), ap.GetName(), err)
				}
			}
		}
		if d := np.GetDomain(); d != "" && d != "ai.onnx" {
			continue
		}
		r, known := ruleFor(np.GetOpType(), from)
		if !known {
			return fmt.Errorf("%s node %q is not an operator of ai.onnx opset %d", np.GetOpType(), np.GetName(), from)
		}
		if r != nil && needsRewrite(np) {
			return fmt.Errorf("%s node %q has an opset-%d form, which amq converts only outside subgraphs", np.GetOpType(), np.GetName(), from)
		}
	}
	return nil
}

// needsRewrite tells, for a node whose operator has a rule, whether the
// rule would change it: BatchNormalization and Dropout change only when
// they carry an attribute that went, or a Dropout mask.
func needsRewrite(np *onnxpb.NodeProto) bool {
	switch np.GetOpType() {
	case "BatchNormalization", "Dropout":
		for _, a := range np.GetAttribute() {
			switch a.GetName() {
			case "spatial", "is_test", "consumed_inputs":
				return true
			}
		}
		return np.GetOpType() == "Dropout" && len(np.GetOutput()) > 1 && np.GetOutput()[1] != ""
	}
	return true
}
