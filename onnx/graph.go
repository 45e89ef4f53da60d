package onnx

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"amq/onnx/onnxpb"
)

// Graph is a computation graph in topological order.
type Graph struct {
	Name      string
	DocString string
	Nodes     []*Node
	// Inputs are the graph inputs that are not initializers, in model order.
	Inputs  []*ValueInfo
	Outputs []*ValueInfo
	// Initializers are the constant tensors, by name.
	Initializers map[string]*Tensor
	// ValueInfo describes intermediate tensors, by name (as stored in the
	// model or added by shape inference).
	ValueInfo map[string]*ValueInfo

	// initInputs keeps initializers that the model also listed as graph
	// inputs (IR < 4 style), so that Save writes them back the same way.
	initInputs map[string]*ValueInfo

	index *graphIndex
}

// Node is one operator application. An empty input name marks an omitted
// optional input.
type Node struct {
	Name      string
	OpType    string
	Domain    string
	Inputs    []string
	Outputs   []string
	Attrs     map[string]*Attr
	DocString string
}

// AttrType is the type of an attribute (AttributeProto.AttributeType).
type AttrType int32

// Attribute types amq reads.
const (
	AttrFloat   = AttrType(onnxpb.AttributeProto_FLOAT)
	AttrInt     = AttrType(onnxpb.AttributeProto_INT)
	AttrString  = AttrType(onnxpb.AttributeProto_STRING)
	AttrTensor  = AttrType(onnxpb.AttributeProto_TENSOR)
	AttrGraph   = AttrType(onnxpb.AttributeProto_GRAPH)
	AttrFloats  = AttrType(onnxpb.AttributeProto_FLOATS)
	AttrInts    = AttrType(onnxpb.AttributeProto_INTS)
	AttrStrings = AttrType(onnxpb.AttributeProto_STRINGS)
)

// String returns the ONNX name of the attribute type.
func (a AttrType) String() string {
	return onnxpb.AttributeProto_AttributeType(a).String()
}

// Attr is a node attribute. Only the field matching Type is meaningful.
// Attributes of other types (graphs, sparse tensors, type protos) keep their
// proto in Proto so they survive a load/save round trip.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32                // AttrFloat
	I       int64                  // AttrInt
	S       string                 // AttrString
	T       *Tensor                // AttrTensor
	Floats  []float32              // AttrFloats
	Ints    []int64                // AttrInts
	Strings []string               // AttrStrings
	Proto   *onnxpb.AttributeProto // any other type, kept as read
}

// Dim is one dimension of a ValueInfo shape: a known size (Value >= 0), a
// symbolic one (Param), or unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64
	Param string
}

// Known reports whether the dimension has a concrete size.
func (d Dim) Known() bool { return d.Param == "" && d.Value >= 0 }

// String returns the size, the symbolic name, or "?" when unknown.
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return strconv.FormatInt(d.Value, 10)
}

// ValueInfo is the type and shape of a named tensor. Shape is nil when the
// rank is unknown.
type ValueInfo struct {
	Name  string
	DType DataType
	Shape []Dim
}

// Dims returns the shape as ints, and false if any dimension is not known.
func (v *ValueInfo) Dims() ([]int, bool) {
	if v.Shape == nil {
		return nil, false
	}
	out := make([]int, len(v.Shape))
	for i, d := range v.Shape {
		if !d.Known() {
			return nil, false
		}
		out[i] = int(d.Value)
	}
	return out, true
}

// KnownDims returns a ValueInfo shape with every dimension known.
func KnownDims(shape []int) []Dim {
	d := make([]Dim, len(shape))
	for i, v := range shape {
		d[i] = Dim{Value: int64(v)}
	}
	return d
}

// Attribute accessors. They return def when the attribute is absent.

// AttrInt returns an INT attribute.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInt {
		return a.I
	}
	return def
}

// AttrFloat returns a FLOAT attribute.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrFloat {
		return a.F
	}
	return def
}

// AttrString returns a STRING attribute.
func (n *Node) AttrString(name, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrString {
		return a.S
	}
	return def
}

// AttrInts returns an INTS attribute (nil when absent).
func (n *Node) AttrInts(name string) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInts {
		return a.Ints
	}
	return nil
}

// AttrFloats returns a FLOATS attribute (nil when absent).
func (n *Node) AttrFloats(name string) []float32 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrFloats {
		return a.Floats
	}
	return nil
}

// AttrTensor returns a TENSOR attribute (nil when absent).
func (n *Node) AttrTensor(name string) *Tensor {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrTensor {
		return a.T
	}
	return nil
}

// HasAttr reports whether the attribute is present.
func (n *Node) HasAttr(name string) bool {
	_, ok := n.Attrs[name]
	return ok
}

// SetAttr sets (or replaces) an attribute. v is float32, int64, int, string,
// *Tensor, []float32, []int64 or []string.
func (n *Node) SetAttr(name string, v any) {
	a := &Attr{Name: name}
	switch x := v.(type) {
	case float32:
		a.Type, a.F = AttrFloat, x
	case float64:
		a.Type, a.F = AttrFloat, float32(x)
	case int64:
		a.Type, a.I = AttrInt, x
	case int:
		a.Type, a.I = AttrInt, int64(x)
	case string:
		a.Type, a.S = AttrString, x
	case *Tensor:
		a.Type, a.T = AttrTensor, x
	case []float32:
		a.Type, a.Floats = AttrFloats, x
	case []int64:
		a.Type, a.Ints = AttrInts, x
	case []string:
		a.Type, a.Strings = AttrStrings, x
	default:
		panic(fmt.Sprintf("onnx: SetAttr %q: unsupported value type %T", name, v))
	}
	if n.Attrs == nil {
		n.Attrs = map[string]*Attr{}
	}
	n.Attrs[name] = a
}

// Input returns the i-th input name, or "" when it is absent.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// String names the node and its operator type, for error messages.
func (n *Node) String() string { return fmt.Sprintf("%s node %q", n.OpType, n.Name) }

// graphIndex answers Producer, Consumers and Node. Inserting a node or
// rewiring one updates it in place (index.go); other rewrites rebuild it.
type graphIndex struct {
	producer  map[string]*Node
	consumers map[string][]*Node // in graph order, each node once
	byName    map[string]*Node
	outputs   map[string]bool
	// order ranks the nodes in graph order, with gaps so that a node can be
	// inserted between two others without renumbering the rest.
	order map[*Node]uint64
	// unique is set when no two nodes share a name or an output, the case
	// that in-place updates handle; otherwise they rebuild.
	unique bool
}

// Reindex rebuilds the producer, consumer and name maps. Methods of Graph
// that rewrite the graph call it themselves (or update the maps in place);
// call it after changing Nodes, or a node's Inputs or Outputs, directly.
func (g *Graph) Reindex() {
	ix := &graphIndex{
		producer:  make(map[string]*Node, len(g.Nodes)),
		consumers: make(map[string][]*Node, len(g.Nodes)),
		byName:    make(map[string]*Node, len(g.Nodes)),
		outputs:   make(map[string]bool, len(g.Outputs)),
		order:     make(map[*Node]uint64, len(g.Nodes)),
		unique:    true,
	}
	for i, n := range g.Nodes {
		ix.order[n] = uint64(i+1) << orderGap
		if _, dup := ix.byName[n.Name]; dup {
			ix.unique = false
		}
		ix.byName[n.Name] = n
		for _, o := range n.Outputs {
			if o != "" {
				if p, dup := ix.producer[o]; dup && p != n {
					ix.unique = false
				}
				ix.producer[o] = n
			}
		}
		for _, in := range n.Inputs {
			// A node reading a tensor twice is listed once: it is then
			// the list's last entry.
			if c := ix.consumers[in]; in != "" && (len(c) == 0 || c[len(c)-1] != n) {
				ix.consumers[in] = append(c, n)
			}
		}
	}
	for _, o := range g.Outputs {
		ix.outputs[o.Name] = true
	}
	g.index = ix
}

func (g *Graph) ix() *graphIndex {
	if g.index == nil {
		g.Reindex()
	}
	return g.index
}

// Producer returns the node that produces tensor name, or nil for graph
// inputs and initializers.
func (g *Graph) Producer(name string) *Node { return g.ix().producer[name] }

// Consumers returns the nodes that read tensor name, in graph order.
func (g *Graph) Consumers(name string) []*Node { return g.ix().consumers[name] }

// IsOutput reports whether name is a graph output.
func (g *Graph) IsOutput(name string) bool { return g.ix().outputs[name] }

// Node returns the node called name, or nil.
func (g *Graph) Node(name string) *Node { return g.ix().byName[name] }

// Input returns the graph input called name, or nil.
func (g *Graph) Input(name string) *ValueInfo {
	for _, in := range g.Inputs {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// UniqueName returns base, or base with a numeric suffix, such that no
// tensor, initializer or node of the graph already uses it.
func (g *Graph) UniqueName(base string) string {
	used := func(s string) bool {
		if _, ok := g.Initializers[s]; ok {
			return true
		}
		if g.Producer(s) != nil || g.Node(s) != nil || g.Input(s) != nil || len(g.Consumers(s)) > 0 {
			return true
		}
		return false
	}
	if !used(base) {
		return base
	}
	for i := 1; ; i++ {
		s := base + "_" + strconv.Itoa(i)
		if !used(s) {
			return s
		}
	}
}

// SetInitializer adds or replaces the initializer t.Name.
func (g *Graph) SetInitializer(t *Tensor) {
	if g.Initializers == nil {
		g.Initializers = map[string]*Tensor{}
	}
	g.Initializers[t.Name] = t
}

// InsertNode inserts n at position pos of Nodes (len(Nodes) appends).
func (g *Graph) InsertNode(pos int, n *Node) {
	g.Nodes = slices.Insert(g.Nodes, pos, n)
	if g.index == nil || !g.index.insert(g.Nodes, pos) {
		g.Reindex()
	}
}

// InsertBefore inserts n directly before node at, and makes at read n's
// first output in place of its input number input. n's first input should be
// at's original input; the caller builds n.
func (g *Graph) InsertBefore(at *Node, input int, n *Node) error {
	pos := g.position(at)
	if pos < 0 {
		return fmt.Errorf("%v is not in graph %q", at, g.Name)
	}
	if input >= len(at.Inputs) {
		return fmt.Errorf("%v has no input %d", at, input)
	}
	g.InsertNode(pos, n)
	g.SetInput(at, input, n.Outputs[0])
	return nil
}

// SetInput makes input i of node n read tensor name, extending n.Inputs
// with omitted ("") inputs when i is past its end, and keeps the index
// current.
func (g *Graph) SetInput(n *Node, i int, name string) {
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, "")
	}
	old := n.Inputs[i]
	n.Inputs[i] = name
	if g.index != nil && !g.index.rewireInput(n, old, name) {
		g.Reindex()
	}
}

// SetOutput makes output i of node n write tensor name and keeps the index
// current.
func (g *Graph) SetOutput(n *Node, i int, name string) {
	old := n.Outputs[i]
	n.Outputs[i] = name
	if g.index != nil && !g.index.rewireOutput(n, old, name) {
		g.Reindex()
	}
}

// RemoveNode removes n from the graph. Its outputs must be unused.
func (g *Graph) RemoveNode(n *Node) {
	pos := g.position(n)
	if pos < 0 {
		return
	}
	g.Nodes = append(g.Nodes[:pos], g.Nodes[pos+1:]...)
	g.Reindex()
}

func (g *Graph) position(n *Node) int {
	for i, m := range g.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}

// AddOutput exposes tensor name as a graph output, unless it already is one.
func (g *Graph) AddOutput(name string) {
	if g.IsOutput(name) {
		return
	}
	vi := &ValueInfo{Name: name}
	if v, ok := g.ValueInfo[name]; ok {
		*vi = *v
	}
	g.Outputs = append(g.Outputs, vi)
	g.Reindex()
}

// ReplaceUses makes every consumer of old read new instead (graph outputs
// are not renamed).
func (g *Graph) ReplaceUses(old, new string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = new
			}
		}
	}
	g.Reindex()
}

// TopoSort orders Nodes so that every node comes after the producers of its
// inputs, keeping the original order where it is already valid. It fails
// with the name of a node on a cycle or reading an undefined tensor.
func (g *Graph) TopoSort() error {
	avail := map[string]bool{"": true}
	for _, in := range g.Inputs {
		avail[in.Name] = true
	}
	for name := range g.Initializers {
		avail[name] = true
	}
	producer := map[string]bool{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = true
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if !avail[in] && !producer[in] {
				return fmt.Errorf("%v reads tensor %q, which no node, input or initializer provides", n, in)
			}
		}
	}
	done := make([]bool, len(g.Nodes))
	out := make([]*Node, 0, len(g.Nodes))
	for len(out) < len(g.Nodes) {
		progress := false
		for i, n := range g.Nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				if !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[i] = true
			progress = true
			out = append(out, n)
			for _, o := range n.Outputs {
				avail[o] = true
			}
		}
		if !progress {
			for i, n := range g.Nodes {
				if !done[i] {
					return fmt.Errorf("graph %q has a cycle through %v", g.Name, n)
				}
			}
		}
	}
	g.Nodes = out
	g.Reindex()
	return nil
}

// nameNodes gives every unnamed node a stable name "<OpType>_<n>", where n
// counts nodes of that type in graph order, avoiding names already taken.
func (g *Graph) nameNodes() {
	taken := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Name != "" {
			if taken[n.Name] {
				// Duplicate names would make layer names ambiguous.
				n.Name = ""
				continue
			}
			taken[n.Name] = true
		}
	}
	count := map[string]int{}
	for _, n := range g.Nodes {
		if n.Name != "" {
			continue
		}
		for {
			c := count[n.OpType]
			count[n.OpType] = c + 1
			name := n.OpType + "_" + strconv.Itoa(c)
			if !taken[name] {
				n.Name = name
				taken[name] = true
				break
			}
		}
	}
}

// sortedInitNames returns initializer names in a deterministic order.
func (g *Graph) sortedInitNames() []string {
	names := make([]string, 0, len(g.Initializers))
	for n := range g.Initializers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy of g.
func (g *Graph) Clone() *Graph { return g.clone(false) }

// CloneShared is Clone whose initializers share their elements with g's:
// a new Tensor (name, type, shape) per initializer, the same Data slice.
// It costs no copy of the weights; whoever changes an initializer of
// either graph must give it new Data (or a new Tensor) instead of writing
// into the old (docs/design.md "Loading large models").
func (g *Graph) CloneShared() *Graph { return g.clone(true) }

func (g *Graph) clone(shareData bool) *Graph {
	c := &Graph{
		Name:         g.Name,
		DocString:    g.DocString,
		Initializers: make(map[string]*Tensor, len(g.Initializers)),
		ValueInfo:    make(map[string]*ValueInfo, len(g.ValueInfo)),
	}
	cloneVI := func(v *ValueInfo) *ValueInfo {
		w := *v
		if v.Shape != nil {
			w.Shape = append([]Dim{}, v.Shape...)
		}
		return &w
	}
	for _, v := range g.Inputs {
		c.Inputs = append(c.Inputs, cloneVI(v))
	}
	for _, v := range g.Outputs {
		c.Outputs = append(c.Outputs, cloneVI(v))
	}
	for k, v := range g.ValueInfo {
		c.ValueInfo[k] = cloneVI(v)
	}
	for k, v := range g.initInputs {
		if c.initInputs == nil {
			c.initInputs = map[string]*ValueInfo{}
		}
		c.initInputs[k] = cloneVI(v)
	}
	for k, t := range g.Initializers {
		if shareData {
			c.Initializers[k] = &Tensor{Name: t.Name, DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: t.Data}
		} else {
			c.Initializers[k] = t.Clone()
		}
	}
	for _, n := range g.Nodes {
		m := *n
		m.Inputs = append([]string(nil), n.Inputs...)
		m.Outputs = append([]string(nil), n.Outputs...)
		if n.Attrs != nil {
			m.Attrs = make(map[string]*Attr, len(n.Attrs))
			for k, a := range n.Attrs {
				b := *a
				if a.T != nil {
					b.T = a.T.Clone()
				}
				b.Floats = append([]float32(nil), a.Floats...)
				b.Ints = append([]int64(nil), a.Ints...)
				b.Strings = append([]string(nil), a.Strings...)
				m.Attrs[k] = &b
			}
		}
		c.Nodes = append(c.Nodes, &m)
	}
	return c
}
