// Package sim executes ONNX models in pure Go on the CPU, including the
// int8 operators of Ascend deploy models (AscendQuant, AscendDequant,
// AscendAntiQuant and integer Conv/Gemm/MatMul), so that amq can calibrate
// and validate models without an NPU.
//
// A Session checks every node once, when it is created, and then runs the
// graph for any number of inputs. Run can return intermediate tensors
// besides the graph outputs.
package sim

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"amq/backend"
	"amq/onnx"
)

// Options configures a Session.
type Options struct {
	// Threads bounds the goroutines one operator uses; 0 means all cores.
	Threads int
	// Precision is the ATC precision mode to emulate: which operators
	// compute in float16 (docs/design.md "NPU numerics"). The default
	// computes everything in float32.
	Precision Precision
}

// Session is a model prepared for execution. It is safe for concurrent use
// by several goroutines.
//
// A session keeps prepared copies of constant weights (packed for the
// GEMM), so the model's initializers must not be changed in place while the
// session is in use: make the changes first, or create a new session.
type Session struct {
	model   *onnx.Model
	steps   []step
	inputs  []*onnx.ValueInfo
	outputs []string
	consts  map[string]*onnx.Tensor
	// lastUse maps a tensor to the index of the last step that reads it.
	lastUse map[string]int
	threads int
	known   map[string]bool // every tensor name the graph defines
	// fp16 is what the precision mode rounds to float16; nil when nothing.
	fp16 *fp16Plan
	// mem keeps the tensor buffers of runs for the next ones (arena.go).
	mem arenas
}

type step struct {
	node *onnx.Node
	run  opFunc
	// fused, when not nil, computes this node and the chain of nodes
	// after it (steps fusedWith, each the only consumer of the one
	// before) in one go; Run uses it unless one of the chain's
	// intermediate outputs is fetched, and then skips steps fusedWith.
	fused     opFunc
	fusedWith []int
	// extra names the tensors the fused form reads besides the node's
	// inputs (appended to them, in this order): tensors the chain reads
	// that neither it nor the graph's constants provide, all computed
	// before this step (a ResNet block's shortcut, added to its Conv's
	// output).
	extra []string
}

// opFunc runs one node. Omitted optional inputs are nil.
type opFunc func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error)

// builder checks a node at session creation and returns its opFunc.
type builder func(b *buildCtx, n *onnx.Node) (opFunc, error)

// buildCtx is what a builder may consult besides the node itself.
type buildCtx struct {
	opset int64       // version of the ai.onnx operator set
	graph *onnx.Graph // the whole graph, e.g. to find an input's producer
	// fusable may be set by a builder whose operator can apply the
	// node act, the only consumer of its output, itself: it returns the
	// opFunc of the pair (whose output is act's), or nil when act does not
	// fuse.
	fusable func(act *onnx.Node) opFunc
	// fusableChain, when set, is offered chains of nodes instead, acts[0]
	// the only consumer of this node's output and each later act the
	// only consumer of the one before; it returns the opFunc of the
	// whole chain (whose output is the last act's), or nil. extra names
	// the tensors the chain reads that are neither its own, nor this
	// node's inputs, nor constants of the graph: the session has checked
	// they are computed before this node, and the opFunc finds them
	// after this node's inputs in its arguments (step.extra).
	fusableChain func(acts []*onnx.Node, extra []string) opFunc
}

var registry = map[string]builder{}

// register makes op available; it is called from init functions.
func register(op string, b builder) {
	if _, dup := registry[op]; dup {
		panic("sim: op registered twice: " + op)
	}
	registry[op] = b
}

// SupportedOps lists the operator types sim executes, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(registry))
	for op := range registry {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Supports reports whether sim executes the operator type op.
func Supports(op string) bool { _, ok := registry[op]; return ok }

// runCtx carries per-run settings to the kernels.
type runCtx struct {
	threads int
	// mem gives out the run's float32 output buffers (outSlice) and an
	// operator's scratch (scratchSliceRaw); nil outside a session's run,
	// and then both come from the heap.
	mem *arena
	// heapOut is set while a step computes tensors the run returns: its
	// outputs then come from the heap, the caller's, while its scratch
	// still comes from mem.
	heapOut bool
}

// NewSession prepares m for execution. It fails, naming the node, on any
// operator, attribute or opset that sim does not support.
func NewSession(m *onnx.Model, opt *Options) (*Session, error) {
	s := &Session{
		model:   m,
		consts:  map[string]*onnx.Tensor{},
		lastUse: map[string]int{},
		threads: runtime.GOMAXPROCS(0),
		known:   map[string]bool{},
	}
	var prec Precision
	if opt != nil {
		if opt.Threads > 0 {
			s.threads = opt.Threads
		}
		var err error
		if prec, err = backend.ParsePrecision(string(opt.Precision)); err != nil {
			return nil, err
		}
	}
	opset := m.Opset()
	if opset == 0 {
		return nil, fmt.Errorf("model imports no ai.onnx opset")
	}
	g := m.Graph
	for name, t := range g.Initializers {
		s.consts[name] = t
		s.known[name] = true
	}
	for _, in := range g.Inputs {
		s.inputs = append(s.inputs, in)
		s.known[in.Name] = true
	}
	if err := checkOperators(g); err != nil {
		return nil, err
	}
	widenHalfConsts(s, g)
	bc := &buildCtx{opset: opset, graph: g}
	fusable := map[int]func(*onnx.Node) opFunc{}
	chains := map[int]func([]*onnx.Node, []string) opFunc{}
	for i, n := range g.Nodes {
		b := registry[n.OpType]
		bc.fusable, bc.fusableChain = nil, nil
		run, err := b(bc, n)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.OpType, err)
		}
		s.steps = append(s.steps, step{node: n, run: run})
		if bc.fusable != nil {
			fusable[i] = bc.fusable
		}
		if bc.fusableChain != nil {
			chains[i] = bc.fusableChain
		}
		for _, in := range n.Inputs {
			if in != "" {
				s.lastUse[in] = i
			}
		}
		for _, o := range n.Outputs {
			if o != "" {
				s.known[o] = true
			}
		}
	}
	// Fused pairs skip the rounding of the intermediate tensor, which a
	// precision mode must apply node by node.
	if s.fp16 = newFP16Plan(prec, s); s.fp16 == nil {
		s.fuse(fusable, chains)
	}
	for _, o := range g.Outputs {
		if !s.known[o.Name] {
			return nil, fmt.Errorf("graph output %q is not produced by any node", o.Name)
		}
		s.outputs = append(s.outputs, o.Name)
	}
	return s, nil
}

// fuse pairs each node that offered a fused form (fusable, by step) with
// the node consuming its output, when that is the output's only use and
// the consumer accepts; a node offering chains (chains, by step) is offered
// the longest chain of such consumers first (up to maxFusedChain nodes),
// then shorter ones. The consumer's own builder has already checked it;
// an offer accepts a consumer with other inputs only when they are
// initializers, which the fused form reads from the graph, or, for a
// chain, its first node's inputs or tensors computed before it
// (chainOperands), which the fused form is given.
func (s *Session) fuse(fusable map[int]func(*onnx.Node) opFunc, chains map[int]func([]*onnx.Node, []string) opFunc) {
	g := s.model.Graph
	index := make(map[*onnx.Node]int, len(s.steps))
	producer := map[string]int{}
	for i, st := range s.steps {
		index[st.node] = i
		for _, o := range st.node.Outputs {
			if o != "" {
				producer[o] = i
			}
		}
	}
	// next returns the step consuming step i's single output alone.
	next := func(i int) (int, bool) {
		n := s.steps[i].node
		if len(n.Outputs) != 1 || n.Outputs[0] == "" || g.IsOutput(n.Outputs[0]) {
			return 0, false
		}
		users := g.Consumers(n.Outputs[0])
		if len(users) != 1 {
			return 0, false
		}
		act := users[0]
		j, ok := index[act]
		if !ok || j <= i || act.Domain != "" || len(act.Outputs) != 1 || act.Outputs[0] == "" {
			return 0, false
		}
		return j, true
	}
	for i, offer := range fusable {
		if j, ok := next(i); ok {
			if run := offer(s.steps[j].node); run != nil {
				s.steps[i].fused, s.steps[i].fusedWith = run, []int{j}
			}
		}
	}
	// A step may be in two chains, one the other's tail; the run takes
	// the first one's fused form and skips the second's step. An Add of
	// two Convs' outputs is offered to both, but only the later Conv can
	// read the other's output (chainOperands).
	for i, offer := range chains {
		var steps []int
		var acts []*onnx.Node
		for j, ok := next(i); ok && len(acts) < maxFusedChain-1; j, ok = next(j) {
			steps, acts = append(steps, j), append(acts, s.steps[j].node)
		}
		for k := len(acts); k > 0; k-- {
			extra, ok := s.chainOperands(i, acts[:k], producer)
			if !ok {
				continue
			}
			if run := offer(acts[:k], extra); run != nil {
				s.steps[i].fused, s.steps[i].fusedWith, s.steps[i].extra = run, steps[:k], extra
				break
			}
		}
	}
}

// chainOperands lists the tensors the chain acts after step i reads
// besides its own, step i's inputs and the graph's constants, each once;
// ok is false when one of them is computed by step i or after it, so
// that the fused step could not read it.
func (s *Session) chainOperands(i int, acts []*onnx.Node, producer map[string]int) (extra []string, ok bool) {
	own := map[string]bool{}
	for _, in := range s.steps[i].node.Inputs {
		own[in] = true
	}
	for _, o := range s.steps[i].node.Outputs {
		own[o] = true
	}
	for _, act := range acts {
		for _, o := range act.Outputs {
			own[o] = true
		}
	}
	for _, act := range acts {
		for _, in := range act.Inputs {
			if in == "" || own[in] {
				continue
			}
			if _, isConst := constantOperand(s.model.Graph, in); isConst {
				continue
			}
			if p, computed := producer[in]; computed && p >= i {
				return nil, false
			}
			own[in] = true
			extra = append(extra, in)
		}
	}
	return extra, true
}

// dropInputs drops from env the inputs of step i that no later step reads
// (lastUse) and the run does not return, giving their buffers back to the
// arena.
func (s *Session) dropInputs(i int, env map[string]*onnx.Tensor, keep map[string]bool, c *runCtx, fp16 *fp16Run) {
	for _, in := range s.steps[i].node.Inputs {
		if in != "" && s.lastUse[in] == i && !keep[in] {
			if _, isConst := s.consts[in]; !isConst {
				if t, ok := env[in]; ok {
					c.mem.release(t)
					delete(env, in)
				}
			}
			if fp16 != nil {
				delete(fp16.rounded, in)
			}
		}
	}
}

// fusedUsable reports whether a run may take st's fused form: none of the
// outputs the chain does not materialize is fetched (keep) or watched.
func (s *Session) fusedUsable(st step, keep map[string]bool, w *watcher) bool {
	hidden := func(name string) bool { return !keep[name] && !w.watched(name) }
	if !hidden(st.node.Outputs[0]) {
		return false
	}
	for _, j := range st.fusedWith[:len(st.fusedWith)-1] {
		if !hidden(s.steps[j].node.Outputs[0]) {
			return false
		}
	}
	return true
}

// maxFusedChain bounds the nodes of a fused chain (PP-LCNetV3's HardSwish
// and learnable affine block after it are six).
const maxFusedChain = 8

// Inputs describes the graph inputs the session expects.
func (s *Session) Inputs() []*onnx.ValueInfo { return s.inputs }

// Outputs lists the graph output names.
func (s *Session) Outputs() []string { return s.outputs }

// Run executes the graph. inputs maps graph input names to tensors; the
// result holds every graph output plus each tensor named in fetch (any
// intermediate tensor, input or initializer).
func (s *Session) Run(inputs map[string]*onnx.Tensor, fetch ...string) (map[string]*onnx.Tensor, error) {
	res, _, err := s.run(inputs, runRequest{fetch: fetch})
	return res, err
}

// RunFP16 is Run that also tells what the session's precision mode did:
// one FP16Stat per tensor rounded to float16, in the order of the steps
// (nil when the mode rounds nothing). FP16Stat.Flagged picks the tensors
// that overflow or flush to zero in bulk.
func (s *Session) RunFP16(inputs map[string]*onnx.Tensor, fetch ...string) (map[string]*onnx.Tensor, []FP16Stat, error) {
	return s.run(inputs, runRequest{fetch: fetch, wantStats: true})
}

// RunObserved is Run that hands each tensor named in watch to observe as
// soon as it is computed (graph inputs and initializers first), instead of
// returning it: the tensor is valid only during the call, after which its
// buffer goes to the next tensors of the run. So a caller that folds the
// tensors into statistics needs the memory of one forward pass, however
// many tensors it watches. The result holds the graph outputs. An error
// from observe stops the run and is returned.
func (s *Session) RunObserved(inputs map[string]*onnx.Tensor, watch []string, observe func(name string, t *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	res, _, err := s.run(inputs, runRequest{watch: watch, observe: observe})
	return res, err
}

// Release lets go of the buffers the session keeps for its next runs. A
// later run allocates them again.
func (s *Session) Release() { s.mem.clear() }

// runRequest is what a caller asks of one run besides the graph outputs.
type runRequest struct {
	fetch     []string // tensors to return
	wantStats bool     // return the float16 statistics
	watch     []string // tensors to hand to observe as they are computed
	observe   func(name string, t *onnx.Tensor) error
	ctx       context.Context // checked between nodes; nil for none
}

// run executes the steps in order, checking req.ctx between them.
func (s *Session) run(inputs map[string]*onnx.Tensor, req runRequest) (map[string]*onnx.Tensor, []FP16Stat, error) {
	env, keep, err := s.startEnv(inputs, req.fetch)
	if err != nil {
		return nil, nil, err
	}
	w, err := s.newWatcher(env, req)
	if err != nil {
		return nil, nil, err
	}
	c := &runCtx{threads: s.threads, mem: s.mem.take()}
	defer s.mem.put(c.mem)
	var fp16 *fp16Run
	if s.fp16 != nil {
		fp16 = newFP16Run(s.fp16, s.threads)
	}
	args := make([]*onnx.Tensor, 0, 8)
	var skip []bool // steps a fused predecessor has done
	for i, st := range s.steps {
		n := st.node
		if skip != nil && skip[i] {
			continue
		}
		if req.ctx != nil {
			if err := req.ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		args, err = appendInputs(args[:0], n, n.Inputs, env)
		if err != nil {
			return nil, nil, err
		}
		run, outNames := st.run, n.Outputs
		// A fused form reading tensors computed earlier (a residual Add)
		// would skip the float16 rounding of the node's output before it.
		if st.fused != nil && s.fusedUsable(st, keep, w) && (st.extra == nil || halfType(args) == onnx.Undefined) {
			// The fused chain yields its last node's output; the others'
			// outputs are never materialized, and nothing else reads them.
			run, outNames = st.fused, s.steps[st.fusedWith[len(st.fusedWith)-1]].node.Outputs
			if skip == nil {
				skip = make([]bool, len(s.steps))
			}
			for _, j := range st.fusedWith {
				skip[j] = true
			}
			if args, err = appendInputs(args, n, st.extra, env); err != nil {
				return nil, nil, err
			}
		}
		half := onnx.Undefined
		if n.OpType != "Cast" && n.OpType != "CastLike" {
			if half = halfType(args); half != onnx.Undefined {
				asFloat(args, half)
			}
		}
		if fp16 != nil {
			fp16.inputs(i, n, args)
		}
		// Tensors the run returns are allocated as the caller's, not from
		// the arena, whose buffers stay planned for the next run.
		c.heapOut = anyKept(outNames, keep)
		labelled := labelOps.Load()
		if labelled {
			setOpLabel(s.opLabel(st, outNames))
		}
		outs, err := run(c, args)
		if labelled {
			setOpLabel("")
		}
		c.heapOut = false
		if err != nil {
			return nil, nil, fmt.Errorf("node %q (%s): %w", n.Name, n.OpType, err)
		}
		if half != onnx.Undefined {
			roundOutputs(outs, half, c.threads)
		}
		if fp16 != nil {
			fp16.outputs(i, n, outs, outNames)
		}
		for j, o := range outNames {
			if o == "" || j >= len(outs) {
				continue
			}
			outs[j].Name = o
			env[o] = outs[j]
			c.mem.retain(outs[j])
			if err := w.produced(o, outs[j]); err != nil {
				return nil, nil, err
			}
		}
		// Drop tensors no later step reads, so memory follows the live set,
		// and give their buffers to the next steps: this step's inputs and
		// those of the steps its fused chain did.
		done := []int{i}
		if len(outNames) > 0 && &outNames[0] != &n.Outputs[0] {
			done = append(done, st.fusedWith...)
		}
		for _, j := range done {
			s.dropInputs(j, env, keep, c, fp16)
		}
		c.mem.collect()
	}
	if err := w.done(); err != nil {
		return nil, nil, err
	}
	res, err := results(env, keep, c.mem)
	if err != nil {
		return nil, nil, err
	}
	if fp16 != nil && req.wantStats {
		return res, fp16.stats, nil
	}
	return res, nil, nil
}

// startEnv checks a run's inputs and returns its environment (the
// constants and the inputs by name) and the tensors it returns: the graph
// outputs and those fetched.
func (s *Session) startEnv(inputs map[string]*onnx.Tensor, fetch []string) (env map[string]*onnx.Tensor, keep map[string]bool, err error) {
	env = make(map[string]*onnx.Tensor, len(s.consts)+len(s.steps))
	for k, v := range s.consts {
		env[k] = v
	}
	for _, vi := range s.inputs {
		t, ok := inputs[vi.Name]
		if !ok {
			return nil, nil, fmt.Errorf("input %q is missing", vi.Name)
		}
		if err := checkInput(vi, t); err != nil {
			return nil, nil, err
		}
		env[vi.Name] = t
	}
	for name := range inputs {
		if !s.isInput(name) {
			return nil, nil, fmt.Errorf("%q is not an input of the model (inputs: %s)", name, s.inputNames())
		}
	}
	keep = map[string]bool{}
	for _, o := range s.outputs {
		keep[o] = true
	}
	for _, f := range fetch {
		if !s.known[f] {
			return nil, nil, fmt.Errorf("tensor %q to fetch is not defined in the graph", f)
		}
		keep[f] = true
	}
	return env, keep, nil
}

// appendInputs appends the tensors names of env to args (nil for an
// omitted optional input), failing, naming node n, on one not computed.
func appendInputs(args []*onnx.Tensor, n *onnx.Node, names []string, env map[string]*onnx.Tensor) ([]*onnx.Tensor, error) {
	for _, in := range names {
		if in == "" {
			args = append(args, nil)
			continue
		}
		t, ok := env[in]
		if !ok {
			return args, fmt.Errorf("node %q (%s): input %q is not available", n.Name, n.OpType, in)
		}
		args = append(args, t)
	}
	return args, nil
}

// opLabel is the profile label of step st computing outNames: its
// operator, with the nodes of its fused chain when it takes that form.
func (s *Session) opLabel(st step, outNames []string) string {
	n := st.node
	op := n.OpType
	if op == "Conv" && n.AttrInt("group", 1) > 1 {
		op = "Conv(grouped)" // depthwise, in most models
	}
	if len(outNames) > 0 && &outNames[0] != &n.Outputs[0] {
		for _, j := range st.fusedWith {
			op += "+" + s.steps[j].node.OpType
		}
	}
	return op
}

// results takes the tensors a run returns (keep) out of env and out of
// the run's arena mem, so that they are the caller's.
func results(env map[string]*onnx.Tensor, keep map[string]bool, mem *arena) (map[string]*onnx.Tensor, error) {
	res := make(map[string]*onnx.Tensor, len(keep))
	for name := range keep {
		t, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q was not computed", name)
		}
		res[name] = t
		mem.giveAway(t)
	}
	return res, nil
}

// anyKept reports whether one of names is in keep.
func anyKept(names []string, keep map[string]bool) bool {
	for _, n := range names {
		if keep[n] {
			return true
		}
	}
	return false
}

func (s *Session) isInput(name string) bool {
	for _, in := range s.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (s *Session) inputNames() string {
	var names []string
	for _, in := range s.inputs {
		names = append(names, in.Name)
	}
	return strings.Join(names, ", ")
}

func checkInput(vi *onnx.ValueInfo, t *onnx.Tensor) error {
	if vi.DType != onnx.Undefined && t.DType != vi.DType {
		return fmt.Errorf("input %q: got %v, the model wants %v", vi.Name, t.DType, vi.DType)
	}
	if t.Len() != dataLen(t) {
		return fmt.Errorf("input %q: shape %v needs %d elements, data has %d", vi.Name, t.Shape, t.Len(), dataLen(t))
	}
	if vi.Shape == nil {
		return nil
	}
	if len(vi.Shape) != len(t.Shape) {
		return fmt.Errorf("input %q: got shape %v, the model wants rank %d %v", vi.Name, t.Shape, len(vi.Shape), vi.Shape)
	}
	for i, d := range vi.Shape {
		if d.Known() && int(d.Value) != t.Shape[i] {
			return fmt.Errorf("input %q: got shape %v, the model wants %v", vi.Name, t.Shape, vi.Shape)
		}
	}
	return nil
}

// dataLen is the length of a tensor's data slice (-1 for an unknown
// slice type).
func dataLen(t *onnx.Tensor) int {
	n, _ := t.DataLen()
	return n
}

// checkAttrs rejects attributes of n that are not in allowed, so that an
// attribute sim does not implement is an error instead of a wrong answer.
func checkAttrs(n *onnx.Node, allowed ...string) error {
	for name := range n.Attrs {
		ok := false
		for _, a := range allowed {
			if a == name {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("attribute %q is not supported", name)
		}
	}
	return nil
}

// checkOperators names every operator of g that sim does not run, with its
// nodes, in one error, so that a user learns all that is missing at once.
func checkOperators(g *onnx.Graph) error {
	var ops []string
	nodes := map[string][]string{}
	for _, n := range g.Nodes {
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + n.OpType
		} else if _, ok := registry[n.OpType]; ok {
			continue
		}
		if nodes[op] == nil {
			ops = append(ops, op)
		}
		nodes[op] = append(nodes[op], strconv.Quote(n.Name))
	}
	if len(ops) == 0 {
		return nil
	}
	if len(ops) == 1 && len(nodes[ops[0]]) == 1 {
		return fmt.Errorf("node %s: operator %s is not supported by sim", nodes[ops[0]][0], ops[0])
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		ns := nodes[op]
		if len(ns) > 3 {
			ns = append(ns[:3:3], fmt.Sprintf("%d more", len(nodes[op])-3))
		}
		parts[i] = fmt.Sprintf("%s (nodes %s)", op, strings.Join(ns, ", "))
	}
	return fmt.Errorf("sim does not support %d operators of this model: %s", len(ops), strings.Join(parts, "; "))
}
