package sim

import (
	"fmt"
	"slices"

	"amq/onnx"
)

// Fusing an elementwise node with the elementwise node after it. Models
// of small convolutions spend much of their time in chains of them over
// tensors larger than the caches (PP-LCNet's HardSwish is Add, Clip, Mul,
// Div; its learnable affine blocks are Mul then Add by scalars): each
// node reads and writes the whole tensor. Fused, the second node works on
// each block of the first's output while it is in L1, and its own output
// is never allocated. Each element still goes through the same IEEE
// operations, one rounding each, so the result is the unfused one.

// fuseBlock is the number of elements the first node computes before the
// second applies to them: 16 KiB, a third of L1.
const fuseBlock = 4096

// rowOp applies a node in place to a block of its float32 input.
type rowOp func(o []float32)

// blockOp applies a node of a fused chain in place to a block o of its
// float32 input; blk, when not nil, gives what it may read besides.
type blockOp func(o []float32, blk *chainBlock)

// chainBlock is the context of a block of a fused chain: first holds the
// same block of the chain's first node's operands, for nodes that read
// them too (HardSwish's Mul(x, Clip(x+3)) reads the x of the Add that
// starts the chain); next and nextOut are the first node's operand and
// output for the next block (nil after the last), which a slow node (Erf)
// prefetches while it computes, so that the chain's first pass over each
// block does not wait for memory.
type chainBlock struct {
	first         [2][]float32
	next, nextOut []float32
}

// inPlaceOp is chainOp for a node reading only x and constants.
func inPlaceOp(b *buildCtx, act *onnx.Node, x string) rowOp {
	op := chainOp(b, act, x, [2]string{})
	if op == nil {
		return nil
	}
	return func(o []float32) { op(o, nil) }
}

// chainOp returns act as a blockOp when act is an elementwise node whose
// input x is the one computed by its producer and whose other operands
// are float32 constants (constantOperand) that do not change the output's
// shape: Erf, Sigmoid, Relu, Clip with constant bounds (inputs from opset
// 11 on, attributes before), or Add, Sub, Mul, Div with a one-element
// constant of rank 0 or 1 or, for those, with firsts[k], the k-th operand
// of the chain's first node (then first[k] must be given). Otherwise nil.
func chainOp(b *buildCtx, act *onnx.Node, x string, firsts [2]string) blockOp {
	if len(act.Outputs) != 1 || len(act.Inputs) == 0 {
		return nil
	}
	if len(act.Attrs) != 0 && (act.OpType != "Clip" || b.opset >= 11) {
		return nil
	}
	scalar := func(name string) (float32, bool) {
		t, ok := constantOperand(b.graph, name)
		if !ok || t.DType != onnx.Float || len(t.Shape) > 1 {
			return 0, false
		}
		d, ok := t.Data.([]float32)
		if !ok || len(d) != 1 {
			return 0, false
		}
		return d[0], true
	}
	switch act.OpType {
	case "Erf", "Sigmoid":
		// GELU's x/√2 then Erf; a scaled Sigmoid. unaryRange reads each
		// block of x before it writes the block. A float16 graph rounds
		// each node's output, which the fused pair would skip.
		if len(act.Inputs) == 1 && act.Inputs[0] == x && !halfGraph(b.graph) {
			if act.OpType == "Erf" {
				return func(o []float32, blk *chainBlock) {
					if blk == nil {
						blk = &chainBlock{}
					}
					erfF32Ahead(o, o, blk.next, blk.nextOut)
				}
			}
			return func(o []float32, _ *chainBlock) { unaryRange(opSigmoid, unaryParams{}, o, o) }
		}
	case "Relu":
		if len(act.Inputs) == 1 && act.Inputs[0] == x {
			return func(o []float32, _ *chainBlock) { reluInPlace(o) }
		}
	case "Clip":
		if act.Inputs[0] != x || len(act.Inputs) > 3 {
			return nil
		}
		var bounds [2]float32
		var has [2]bool
		if b.opset < 11 {
			// Bounds as float attributes: they apply to float32 data,
			// never to a float16 graph's rounded values.
			if len(act.Inputs) != 1 || halfGraph(b.graph) {
				return nil
			}
			for i, name := range []string{"min", "max"} {
				if act.HasAttr(name) {
					bounds[i], has[i] = act.AttrFloat(name, 0), true
				}
			}
			if len(act.Attrs) != btoi(has[0])+btoi(has[1]) {
				return nil
			}
			return func(o []float32, _ *chainBlock) { clipRowF32(o, o, bounds[0], bounds[1], has[0], has[1]) }
		}
		for i := range bounds {
			if 1+i >= len(act.Inputs) || act.Inputs[1+i] == "" {
				continue
			}
			v, ok := scalar(act.Inputs[1+i])
			if !ok {
				return nil
			}
			bounds[i], has[i] = v, true
		}
		return func(o []float32, _ *chainBlock) { clipRowF32(o, o, bounds[0], bounds[1], has[0], has[1]) }
	case "Add", "Sub", "Mul", "Div":
		if b.opset < 7 || len(act.Inputs) != 2 {
			return nil
		}
		op := map[string]arithOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv}[act.OpType]
		// first reports which of the chain's first operands name is.
		first := func(name string) (int, bool) {
			for k, f := range firsts {
				if f != "" && f == name {
					return k, true
				}
			}
			return 0, false
		}
		switch {
		case act.Inputs[0] == x && act.Inputs[1] != x:
			if v, ok := scalar(act.Inputs[1]); ok {
				s := []float32{v}
				return func(o []float32, _ *chainBlock) { arithRow(op, o, o, s) }
			}
			if k, ok := first(act.Inputs[1]); ok {
				return func(o []float32, f *chainBlock) { arithRow(op, o, o, f.first[k]) }
			}
		case act.Inputs[1] == x && act.Inputs[0] != x:
			if v, ok := scalar(act.Inputs[0]); ok {
				s := []float32{v}
				return func(o []float32, _ *chainBlock) { arithRow(op, o, s, o) }
			}
			if k, ok := first(act.Inputs[0]); ok {
				return func(o []float32, f *chainBlock) { arithRow(op, o, f.first[k], o) }
			}
		}
	}
	return nil
}

// fuseArith offers the fusion of the arithmetic node n (operator code)
// with the chain acts after it: nil when an act is not a chainOp. The
// fused form computes float32 data block by block, each act in turn on the
// block; other types, and first operands a later act reads but that
// broadcast, run the nodes in turn.
func fuseArith(b *buildCtx, code arithOp, n *onnx.Node, acts []*onnx.Node) opFunc {
	firsts := [2]string{n.Inputs[0], n.Inputs[1]}
	posts := make([]blockOp, len(acts))
	thens := make([]func(c *runCtx, t *onnx.Tensor, first []*onnx.Tensor) ([]*onnx.Tensor, error), len(acts))
	var reads [2]bool // first operands a later act reads
	x := n.Outputs[0]
	for i, act := range acts {
		if posts[i] = chainOp(b, act, x, firsts); posts[i] == nil {
			return nil
		}
		if thens[i] = actAfter(b, act, x, firsts); thens[i] == nil {
			return nil
		}
		for k, f := range firsts {
			reads[k] = reads[k] || slices.Contains(act.Inputs, f)
		}
		x = act.Outputs[0]
	}
	// inTurn runs the nodes one after the other.
	inTurn := func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		t, err := arith(c, code, in[0], in[1])
		if err != nil {
			return nil, err
		}
		out := []*onnx.Tensor{t}
		for _, then := range thens {
			if out, err = then(c, out[0], in); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		a, bt := in[0], in[1]
		ad, aok := a.Data.([]float32)
		bd, bok := bt.Data.([]float32)
		if !aok || !bok || a.DType != onnx.Float || bt.DType != onnx.Float {
			return inTurn(c, in)
		}
		p, err := newBroadcast(a.Shape, bt.Shape)
		if err != nil {
			return nil, err
		}
		for k, r := range reads {
			if r && !slices.Equal(in[k].Shape, p.shape) {
				return inTurn(c, in)
			}
		}
		o := outSliceRaw[float32](c, p.size)
		// The operand read ahead: a vector one.
		ahead, aheadOff, aheadInc := ad, 0, p.inc[0]
		if !aheadInc {
			ahead, aheadOff, aheadInc = bd, 1, p.inc[1]
		}
		p.each(c.threads, func(out, n int, off []int) {
			var blk chainBlock
			for s := 0; s < n; s += fuseBlock {
				e := min(n, s+fuseBlock)
				as, bs := blockSlice(ad, off[0], s, e, p.inc[0]), blockSlice(bd, off[1], s, e, p.inc[1])
				arithRow(code, o[out+s:out+e], as, bs)
				blk.first[0], blk.first[1], blk.next, blk.nextOut = as, bs, nil, nil
				if e < n {
					e2 := min(n, e+fuseBlock)
					blk.nextOut = o[out+e : out+e2]
					if aheadInc {
						blk.next = blockSlice(ahead, off[aheadOff], e, e2, true)
					}
				}
				for _, post := range posts {
					post(o[out+s:out+e], &blk)
				}
			}
		})
		return []*onnx.Tensor{newTensor(onnx.Float, p.shape, o)}, nil
	}
}

// actAfter returns act's own opFunc applied to the tensor x computes, its
// other operands the graph's constants or, for those named in firsts, the
// tensors first given to the call: the fused form's path for what its
// float32 code does not handle. Nil when act does not build.
func actAfter(b *buildCtx, act *onnx.Node, x string, firsts [2]string) func(c *runCtx, t *onnx.Tensor, first []*onnx.Tensor) ([]*onnx.Tensor, error) {
	actRun, err := registry[act.OpType](&buildCtx{opset: b.opset, graph: b.graph}, act)
	if err != nil {
		return nil
	}
	g := b.graph
	return func(c *runCtx, t *onnx.Tensor, first []*onnx.Tensor) ([]*onnx.Tensor, error) {
		args := make([]*onnx.Tensor, len(act.Inputs))
	operands:
		for i, name := range act.Inputs {
			switch {
			case name == x:
				args[i] = t
			case name != "":
				for k, f := range firsts {
					if f == name && k < len(first) {
						args[i] = first[k]
						continue operands
					}
				}
				args[i], _ = constantOperand(g, name)
			}
		}
		out, err := actRun(c, args)
		if err != nil {
			return nil, fmt.Errorf("fused %s %q: %w", act.OpType, act.Name, err)
		}
		return out, nil
	}
}

// halfGraph reports whether g has float16 or bfloat16 inputs or
// initializers.
func halfGraph(g *onnx.Graph) bool {
	half := func(dt onnx.DataType) bool { return dt == onnx.Float16 || dt == onnx.BFloat16 }
	for _, in := range g.Inputs {
		if half(in.DType) {
			return true
		}
	}
	for _, t := range g.Initializers {
		if half(t.DType) {
			return true
		}
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// constantOperand returns the value of tensor name when it is a constant
// of the graph: an initializer that is not also a graph input, or a
// Constant node's tensor (Paddle2ONNX writes its scalars that way).
func constantOperand(g *onnx.Graph, name string) (*onnx.Tensor, bool) {
	if g.Input(name) != nil {
		return nil, false
	}
	return g.Constant(name)
}

// blockSlice is rowSlice for the elements [s, e) of a run at offset off.
func blockSlice(data []float32, off, s, e int, inc bool) []float32 {
	if inc {
		return data[off+s : off+e]
	}
	return data[off : off+1]
}
