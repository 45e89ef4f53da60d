package quant

import "amq/onnx"

// tensorPairs turns a stream of observed tensors (tensorSink) into pairs:
// each pair's function gets its two tensors once both of a batch have
// come. A tensor may be valid only during its sink call, so the first of
// a pair is kept as a copy until its partner comes; pairs whose tensors
// the engine computes one after the other (a layer and its float twin)
// hold one copy at a time.
type tensorPairs struct {
	roles map[string][]pairRole
	held  map[*tensorPair]*onnx.Tensor
}

type tensorPair struct {
	fn func(a, b *onnx.Tensor) error
}

// pairRole is one use of a tensor: as the first (a) or second (b) of p.
type pairRole struct {
	p      *tensorPair
	second bool
}

func newTensorPairs(n int) *tensorPairs {
	return &tensorPairs{roles: make(map[string][]pairRole, 2*n), held: map[*tensorPair]*onnx.Tensor{}}
}

// add pairs tensors a and b: fn(a, b) runs once per batch.
func (tp *tensorPairs) add(a, b string, fn func(a, b *onnx.Tensor) error) {
	p := &tensorPair{fn: fn}
	tp.roles[a] = append(tp.roles[a], pairRole{p, false})
	tp.roles[b] = append(tp.roles[b], pairRole{p, true})
}

// sink is the tensorSink of the pairs.
func (tp *tensorPairs) sink(_ int, name string, t *onnx.Tensor) error {
	for _, r := range tp.roles[name] {
		other, ok := tp.held[r.p]
		if !ok {
			tp.held[r.p] = t.Clone()
			continue
		}
		delete(tp.held, r.p)
		a, b := other, t
		if !r.second {
			a, b = t, other
		}
		if err := r.p.fn(a, b); err != nil {
			return err
		}
	}
	return nil
}
