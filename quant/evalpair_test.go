package quant

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amq/onnx"
)

// orderedObserver is a backend.Observer stub that hands over its tensors in
// a fixed order, each in a buffer it overwrites after the call (as an
// arena reuses it), and returns out.
type orderedObserver struct {
	mu     sync.Mutex
	handed map[string]*float32 // the buffer each tensor was handed over in
	order  []string
	data   map[string][]float32
	out    map[string]*onnx.Tensor
	err    error // returned after observing every tensor
	// computing, when set, counts the runs computing (not in observe) of
	// the observers sharing it; overlap records whether it passed 1.
	computing *atomic.Int32
	overlap   *atomic.Bool
}

// compute marks the run computing (d = 1) or not (d = -1).
func (o *orderedObserver) compute(d int32) {
	if o.computing != nil && o.computing.Add(d) > 1 {
		o.overlap.Store(true)
	}
}

func (o *orderedObserver) RunObserved(_ map[string]*onnx.Tensor, observe func(string, *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	o.compute(1)
	defer o.compute(-1)
	for _, name := range o.order {
		buf := slices.Clone(o.data[name])
		t := onnx.NewTensor([]int{len(buf)}, buf)
		t.Name = name
		o.mu.Lock()
		if o.handed == nil {
			o.handed = map[string]*float32{}
		}
		o.handed[name] = &buf[0]
		o.mu.Unlock()
		time.Sleep(time.Millisecond) // computing, for the other run to overlap if it could
		o.compute(-1)
		err := observe(name, t)
		o.compute(1)
		if err != nil {
			return nil, err
		}
		for i := range buf {
			buf[i] = -1e9
		}
	}
	return o.out, o.err
}

// pairTensors makes n tensors of size floats for the float and the
// fake-quant model, each value naming its model, tensor and index.
func pairTensors(n, size int) (names []string, ref, fake map[string][]float32) {
	ref, fake = map[string][]float32{}, map[string][]float32{}
	for k := range n {
		name := fmt.Sprintf("t%d", k)
		names = append(names, name)
		r, f := make([]float32, size), make([]float32, size)
		for i := range size {
			r[i] = float32(1000*k + i%1000)
			f[i] = -r[i]
		}
		ref[name], fake[name] = r, f
	}
	return names, ref, fake
}

// TestRunPairedMatchesTensorsByName checks that the paired evaluation hands
// add each float tensor with the fake-quant tensor of its name, with their
// values as computed (copies survive the buffer's reuse), once per name,
// whether the two models compute their tensors in the same order, in
// in reverse order or interleaved (without deadlock), and without copies
// when the orders agree; and that the runs take turns, never computing at
// once.
func TestRunPairedMatchesTensorsByName(t *testing.T) {
	t.Parallel()
	names, refData, fakeData := pairTensors(6, 1000)
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	interleaved := []string{"t1", "t0", "t2", "t4", "t3", "t5"}
	for _, c := range []struct {
		name              string
		refOrder, fakeOrd []string
		copies            bool // whether the orders differ, so tensors are copied
	}{
		{"same order", names, names, false},
		{"reverse order", names, reversed, true},
		{"fake first reversed", reversed, names, true},
		{"interleaved", names, interleaved, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var computing atomic.Int32
			var overlap atomic.Bool
			ref := &orderedObserver{order: c.refOrder, data: refData, out: map[string]*onnx.Tensor{"y": onnx.NewTensor([]int{1}, []float32{1})}, computing: &computing, overlap: &overlap}
			fake := &orderedObserver{order: c.fakeOrd, data: fakeData, out: map[string]*onnx.Tensor{"y": onnx.NewTensor([]int{1}, []float32{2})}, computing: &computing, overlap: &overlap}
			var mu sync.Mutex
			seen := map[string]int{}
			done := make(chan struct{})
			var ro, fo map[string]*onnx.Tensor
			var errs [3]error
			go func() {
				defer close(done)
				ro, fo, errs[0], errs[1], errs[2] = runPaired(ref, fake, nil, func(name string, x, y *onnx.Tensor) error {
					mu.Lock()
					defer mu.Unlock()
					seen[name]++
					xd, yd := x.Data.([]float32), y.Data.([]float32)
					if !slices.Equal(xd, refData[name]) || !slices.Equal(yd, fakeData[name]) {
						t.Errorf("tensor %s: got float %v... fake %v..., want %v... %v...", name, xd[:3], yd[:3], refData[name][:3], fakeData[name][:3])
					}
					ref.mu.Lock()
					fake.mu.Lock()
					copied := &xd[0] != ref.handed[name] || &yd[0] != fake.handed[name]
					fake.mu.Unlock()
					ref.mu.Unlock()
					if !c.copies && copied {
						t.Errorf("tensor %s was copied, though both runs compute the tensors in the same order", name)
					}
					return nil
				})
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("runPaired did not return: deadlock")
			}
			if errs != [3]error{} {
				t.Fatalf("errors %v", errs)
			}
			for _, n := range names {
				if seen[n] != 1 {
					t.Errorf("tensor %s compared %d times, want 1", n, seen[n])
				}
			}
			if overlap.Load() {
				t.Error("both runs computed at once; they must take turns")
			}
			if ro["y"].Data.([]float32)[0] != 1 || fo["y"].Data.([]float32)[0] != 2 {
				t.Errorf("results %v %v are not the runs' own", ro, fo)
			}
		})
	}
}

// TestRunPairedReportsErrors checks that an error of add stops both runs
// and comes back as add's, that a run's own error comes back as that
// run's, and that a tensor only the fake-quant model computed is reported
// missing.
func TestRunPairedReportsErrors(t *testing.T) {
	t.Parallel()
	names, refData, fakeData := pairTensors(4, 10)
	ok := func(string, *onnx.Tensor, *onnx.Tensor) error { return nil }

	ref := &orderedObserver{order: names, data: refData}
	fake := &orderedObserver{order: names, data: fakeData}
	boom := errors.New("shapes differ")
	_, _, rerr, ferr, aerr := runPaired(ref, fake, nil, func(name string, _, _ *onnx.Tensor) error {
		if name == "t1" {
			return boom
		}
		return nil
	})
	if !errors.Is(aerr, boom) || rerr != nil || ferr != nil {
		t.Errorf("add's error: got run errors %v / %v and add error %v, want only %v", rerr, ferr, aerr, boom)
	}

	failed := errors.New("node failed")
	ref = &orderedObserver{order: names[:2], data: refData, err: failed}
	_, _, rerr, _, aerr = runPaired(ref, fake, nil, ok)
	if !errors.Is(rerr, failed) || aerr != nil {
		t.Errorf("float run's error: got %v (add: %v), want %v", rerr, aerr, failed)
	}

	ref = &orderedObserver{order: names[:3], data: refData}
	_, _, rerr, ferr, aerr = runPaired(ref, fake, nil, ok)
	if aerr == nil || !strings.Contains(aerr.Error(), `no tensor "t3"`) || rerr != nil || ferr != nil {
		t.Errorf("tensor missing from the float run: got %v / %v / %v, want an error naming t3", rerr, ferr, aerr)
	}
}
