package quant

import (
	"fmt"
	"slices"
	"sync"

	"amq/backend"
	"amq/onnx"
)

// runPaired runs one batch through the float runner ref and the fake-quant
// runner fake, both observed, and hands add each observed tensor of the
// float model with the fake-quant model's tensor of the same name. The runs
// take turns, one computing at a time at the speed of a run alone (two
// runs at once each split every node over the same cores): the float run
// goes first; a run that computes a tensor whose partner is not there yet
// waits, holding it, and the other run takes its turn; the run that then
// computes the partner compares the two and goes on, and the waiting run
// goes on when its turn comes back. A float model whose observed tensors
// were all fetched at once would hold every layer's output of a batch (175
// MB for PaddleOCR's recognizer at batch 8, the flow's peak); this way,
// with both models computing their layers in the same order, neither holds
// more than the tensor it waits with. When the orders differ, a run whose
// turn comes back with its tensor unpaired copies it and goes on. add is
// called by one run at a time. It returns both runs' results (the graph
// outputs); an error of add stops both runs and is returned as addErr, a
// run's own error as refErr or fakeErr.
func runPaired(ref, fake backend.Observer, in map[string]*onnx.Tensor, add func(name string, x, y *onnx.Tensor) error) (ro, fo map[string]*onnx.Tensor, refErr, fakeErr, addErr error) {
	p := &pairing{add: add}
	p.cond.L = &p.mu
	for s := range p.sides {
		p.sides[s].stored = map[string]*onnx.Tensor{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ro, refErr = ref.RunObserved(in, func(name string, t *onnx.Tensor) error { return p.arrive(0, name, t) })
		p.finish(0)
	}()
	p.mu.Lock()
	for p.turn != 1 && p.err == nil {
		p.cond.Wait()
	}
	p.mu.Unlock()
	fo, fakeErr = fake.RunObserved(in, func(name string, t *onnx.Tensor) error { return p.arrive(1, name, t) })
	p.finish(1)
	<-done
	if p.err != nil {
		return nil, nil, nil, nil, p.err
	}
	if refErr == nil && fakeErr == nil {
		var missing []string
		for _, s := range p.sides {
			missing = append(missing, s.missing...)
			for name := range s.stored {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			// One run ended without a tensor the other computed.
			slices.Sort(missing)
			return nil, nil, nil, nil, fmt.Errorf("backend returned no tensor %q", missing[0])
		}
	}
	return ro, fo, refErr, fakeErr, nil
}

// pairing matches the observed tensors of two runs by name; side 0 is the
// float model's run, side 1 the fake-quant model's.
type pairing struct {
	add func(name string, x, y *onnx.Tensor) error

	mu    sync.Mutex
	cond  sync.Cond
	turn  int // the side that may compute
	sides [2]pairSide
	err   error // the first error of add
}

// pairSide is one run's state.
type pairSide struct {
	// The tensor the run waits with, while waiting.
	name    string
	t       *onnx.Tensor
	waiting bool
	paired  bool                    // set by the other run when it compared the tensor
	stored  map[string]*onnx.Tensor // copies the other run has not reached
	missing []string                // tensors the other run ended without
	done    bool
}

// arrive hands over tensor name of side s's run, which has the turn.
func (p *pairing) arrive(s int, name string, t *onnx.Tensor) error {
	me, other := &p.sides[s], &p.sides[1-s]
	p.mu.Lock()
	if p.err != nil {
		defer p.mu.Unlock()
		return p.err
	}
	var partner *onnx.Tensor
	switch {
	case other.stored[name] != nil:
		partner = other.stored[name]
		delete(other.stored, name)
	case other.waiting && !other.paired && other.name == name:
		// The other run waits with the partner; it goes on in its turn.
		partner = other.t
		other.paired = true
	case other.done:
		// The other run ended without the partner: its error says why,
		// or, when it has none, the tensor is missing.
		me.missing = append(me.missing, name)
		p.mu.Unlock()
		return nil
	}
	if partner != nil {
		p.mu.Unlock()
		return p.pair(s, name, t, partner)
	}
	me.name, me.t, me.waiting = name, t, true
	p.turn = 1 - s
	p.cond.Broadcast()
	for p.turn != s && !other.done && p.err == nil {
		p.cond.Wait()
	}
	paired := me.paired
	me.t, me.waiting, me.paired = nil, false, false
	p.turn = s
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return p.err
	case paired:
		return nil // the other run compared the two
	case other.done:
		me.missing = append(me.missing, name)
		return nil
	}
	// The other run went past this tensor (the orders differ): keep a
	// copy for it to find, and go on.
	me.stored[name] = t.Clone()
	return nil
}

// pair hands the float tensor and the fake-quant one, whichever side s
// brought, to add, and records its error.
func (p *pairing) pair(s int, name string, t, u *onnx.Tensor) error {
	x, y := t, u
	if s == 1 {
		x, y = u, t
	}
	err := p.add(name, x, y)
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		err = p.err
		p.cond.Broadcast()
		p.mu.Unlock()
	}
	return err
}

// finish marks side s's run ended and gives the turn to the other.
func (p *pairing) finish(s int) {
	p.mu.Lock()
	p.sides[s].done = true
	p.turn = 1 - s
	p.cond.Broadcast()
	p.mu.Unlock()
}
