package opset

import (
	"fmt"
	"strings"

	"amq/onnx"
)

// Oldest is the oldest default-domain opset Upgrade converts from, and
// Target the one it converts to.
const (
	Oldest int64 = 7
	Target int64 = 11
)

// minIRVersion is the IR version of the ONNX release that introduced
// opset 11 (1.6); an upgraded model claims at least that.
const minIRVersion = 6

// Problem is a node that cannot be converted, and why.
type Problem struct {
	Node   string // node name
	OpType string
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("%s node %q: %s", p.OpType, p.Node, p.Reason) }

// Error lists every node of a model that Upgrade cannot convert.
type Error struct {
	From, To int64
	Problems []Problem
}

func (e *Error) Error() string {
	items := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		items[i] = p.String()
	}
	return fmt.Sprintf("opset %d to %d: %d node(s) cannot be converted: %s", e.From, e.To, len(e.Problems), strings.Join(items, "; "))
}

// Upgrade returns a copy of m whose default-domain opset is to, with every
// node in its form for that opset; m is not changed. Only to = Target is
// supported, from opsets Oldest to Target-1. A model already at opset to
// or later comes back as an unchanged copy. The opsets of other domains
// and their nodes are kept. When some nodes cannot be converted the error
// is an *Error naming all of them.
func Upgrade(m *onnx.Model, to int64) (*onnx.Model, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("opset upgrade: model has no graph")
	}
	if to != Target {
		return nil, fmt.Errorf("opset upgrade: only opset %d is a supported target, not %d", Target, to)
	}
	from := m.Opset()
	switch {
	case from == 0:
		return nil, fmt.Errorf("opset upgrade: the model imports no ai.onnx opset")
	case from >= to:
		return m.Clone(), nil
	case from < Oldest:
		return nil, fmt.Errorf("opset upgrade: opset %d is older than %d, the oldest amq converts; export the model at opset %d or later", from, Oldest, to)
	}
	c := m.Clone()
	u := newUpgrader(c.Graph, from)
	var problems []Problem
	for _, n := range c.Graph.Nodes {
		if err := u.node(n); err != nil {
			problems = append(problems, Problem{Node: n.Name, OpType: n.OpType, Reason: err.Error()})
		}
	}
	if len(problems) > 0 {
		return nil, &Error{From: from, To: to, Problems: problems}
	}
	delete(c.Opsets, "ai.onnx")
	c.Opsets[""] = to
	c.IRVersion = max(c.IRVersion, minIRVersion)
	c.Graph.Reindex()
	return c, nil
}

// upgrader converts the nodes of one graph from opset from.
type upgrader struct {
	g     *onnx.Graph
	from  int64
	types map[string]onnx.DataType // elemType's answers
}

func newUpgrader(g *onnx.Graph, from int64) *upgrader {
	return &upgrader{g: g, from: from, types: map[string]onnx.DataType{}}
}

// node converts n in place, or says why it cannot.
func (u *upgrader) node(n *onnx.Node) error {
	if err := checkSubgraphs(n, u.from); err != nil {
		return err
	}
	if n.Domain != "" {
		return nil
	}
	r, known := ruleFor(n.OpType, u.from)
	if !known {
		return fmt.Errorf("%s is not an operator of ai.onnx opset %d", n.OpType, u.from)
	}
	if r == nil {
		return nil
	}
	return r(u, n)
}

// constant adds t as an initializer named after node n and its input, and
// returns the name.
func (u *upgrader) constant(n *onnx.Node, input string, t *onnx.Tensor) string {
	t.Name = u.g.UniqueName(n.Name + "." + input)
	u.g.SetInitializer(t)
	return t.Name
}

// int64s adds a 1-D int64 constant for input of n.
func (u *upgrader) int64s(n *onnx.Node, input string, v []int64) string {
	return u.constant(n, input, onnx.NewTensor([]int{len(v)}, append([]int64(nil), v...)))
}

// scalar adds a scalar constant of element type dt (a float type) for
// input of n.
func (u *upgrader) scalar(n *onnx.Node, input string, dt onnx.DataType, v float32) (string, error) {
	t := &onnx.Tensor{DType: dt, Shape: []int{}}
	switch dt {
	case onnx.Float, onnx.Float16:
		t.Data = []float32{v}
	case onnx.Double:
		t.Data = []float64{float64(v)}
	default:
		return "", fmt.Errorf("input %q is %v; %s takes float16, float or double", n.Input(0), dt, n.OpType)
	}
	return u.constant(n, input, t), nil
}

// trimInputs drops trailing omitted inputs.
func trimInputs(in []string) []string {
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

// attrOf returns attribute name of n when it has type want, nil when it
// is absent, and an error for another type.
func attrOf(n *onnx.Node, name string, want onnx.AttrType) (*onnx.Attr, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return nil, nil
	}
	if a.Type != want {
		return nil, fmt.Errorf("attribute %s is %v, want %v", name, a.Type, want)
	}
	return a, nil
}

// requiredAttr is attrOf for an attribute n must have.
func requiredAttr(n *onnx.Node, name string, want onnx.AttrType) (*onnx.Attr, error) {
	a, err := attrOf(n, name, want)
	if err == nil && a == nil {
		err = fmt.Errorf("needs the attribute %s", name)
	}
	return a, err
}
