package quant

import (
	"fmt"
	"slices"
	"sync"

	"amq/backend"
	"amq/onnx"
)

// pairBudget bounds the bytes of float-model tensors the evaluation holds
// while the fake-quant model catches up (runPaired): a float model whose
// observed tensors were all fetched at once would hold every layer's output
// of a batch (175 MB for PaddleOCR's recognizer at batch 8, the flow's peak).
const pairBudget = 32 << 20

// runPaired runs one batch through the float runner ref and the fake-quant
// runner fake at the same time, both observed, and hands add each observed
// tensor of the float model with the fake-quant model's tensor of the same
// name as soon as both are computed. A tensor that comes before its partner
// is copied until the partner comes; the float run waits while its copies
// exceed budget bytes, so with both models computing their layers in the same
// order only a few tensors are held, whatever the number of layers. add is
// called from either run's goroutine, never twice at once for one name.
// It returns both runs' results (the graph outputs). An error of add stops
// both runs and is returned as addErr; a run's own error as refErr or
// fakeErr.
func runPaired(ref, fake backend.Observer, in map[string]*onnx.Tensor, budget int64, add func(name string, x, y *onnx.Tensor) error) (ro, fo map[string]*onnx.Tensor, refErr, fakeErr, addErr error) {
	p := &pairing{add: add, budget: budget, ref: map[string]*onnx.Tensor{}, fake: map[string]*onnx.Tensor{}}
	p.cond.L = &p.mu
	done := make(chan struct{})
	go func() {
		defer close(done)
		ro, refErr = ref.RunObserved(in, p.fromRef)
		p.finish(&p.refDone)
	}()
	fo, fakeErr = fake.RunObserved(in, p.fromFake)
	p.finish(&p.fakeDone)
	<-done
	if err := p.failed(); err != nil {
		return nil, nil, nil, nil, err
	}
	if refErr == nil && fakeErr == nil {
		for name := range p.fake {
			p.missing = append(p.missing, name)
		}
		if len(p.missing) > 0 {
			slices.Sort(p.missing)
			return nil, nil, nil, nil, fmt.Errorf("backend returned no tensor %q", p.missing[0])
		}
	}
	return ro, fo, refErr, fakeErr, nil
}

// pairing matches the observed tensors of two concurrent runs by name.
type pairing struct {
	add    func(name string, x, y *onnx.Tensor) error
	budget int64

	mu       sync.Mutex
	cond     sync.Cond
	ref      map[string]*onnx.Tensor // float tensors the fake run has not reached (copies)
	fake     map[string]*onnx.Tensor // fake-quant tensors the float run has not reached (copies)
	held     int64                   // bytes in ref
	missing  []string                // fake-quant tensors the float run ended without
	refDone  bool
	fakeDone bool
	err      error // the first error of add
}

// fromRef observes tensor name of the float run.
func (p *pairing) fromRef(name string, x *onnx.Tensor) error {
	p.mu.Lock()
	size := int64(4 * x.Len())
	for p.err == nil && p.fake[name] == nil && !p.fakeDone && p.held > 0 && p.held+size > p.budget {
		p.cond.Wait()
	}
	if p.err != nil || p.fakeDone && p.fake[name] == nil {
		// Stopped, or the fake-quant run ended without the tensor
		// (its error says why).
		err := p.err
		p.mu.Unlock()
		return err
	}
	if y := p.fake[name]; y != nil {
		delete(p.fake, name)
		p.mu.Unlock()
		return p.pair(name, x, y)
	}
	p.ref[name] = x.Clone()
	p.held += size
	p.mu.Unlock()
	return nil
}

// fromFake observes tensor name of the fake-quant run.
func (p *pairing) fromFake(name string, y *onnx.Tensor) error {
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if x := p.ref[name]; x != nil {
		delete(p.ref, name)
		p.held -= int64(4 * x.Len())
		p.cond.Broadcast()
		p.mu.Unlock()
		return p.pair(name, x, y)
	}
	if p.refDone {
		// The float run ended without this tensor: its error says why,
		// or, when it has none, the tensor is missing.
		p.missing = append(p.missing, name)
		p.mu.Unlock()
		return nil
	}
	p.fake[name] = y.Clone()
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// pair hands x and y to add and stops both runs on its error.
func (p *pairing) pair(name string, x, y *onnx.Tensor) error {
	if err := p.add(name, x, y); err != nil {
		return p.fail(err)
	}
	return nil
}

// fail records err as the pairing's error, unless an earlier one was, and
// returns the recorded one.
func (p *pairing) fail(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.cond.Broadcast()
	}
	return p.err
}

// failed is the first error of add, if any.
func (p *pairing) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// finish marks one run ended, waking the other if it waits.
func (p *pairing) finish(flag *bool) {
	p.mu.Lock()
	*flag = true
	p.cond.Broadcast()
	p.mu.Unlock()
}
