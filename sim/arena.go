package sim

import (
	"sync"
	"unsafe"

	"amq/onnx"
)

// Memory planning (docs/design.md "Memory planning"). A run takes the
// float32 buffers of the tensors it computes from an arena, and gives a
// buffer back as soon as the last step reading its tensor (or any view of
// it) has run; the session keeps its arenas between runs, so a run in the
// steady state allocates almost nothing: the buffers of a forward pass are
// planned by the lifetimes of the tensors the first runs saw, not by the
// garbage collector. Tensors a run returns are the caller's: the steps
// that compute them allocate them outside the arena (for ResNet-18, its
// 32 KB output).

// arena is the float32 memory of one run at a time.
type arena struct {
	free []*[]float32 // buffers no tensor uses, any order
	// live are the buffers handed out in this run that may still be
	// referenced, with the number of tensors of the run's environment
	// that lie in each; newly handed out buffers start at 0 references.
	live []liveBuf
}

type liveBuf struct {
	buf  *[]float32
	refs int
}

// reuseSlack bounds the waste of reusing a free buffer: one is taken for a
// request of n elements only when its capacity is at most n*reuseSlack, so
// that a small tensor does not hold a large buffer that a large tensor will
// then miss.
const reuseSlack = 2

// get returns a buffer of n elements with undefined contents: the
// smallest free one that fits, else a new one.
func (a *arena) get(n int) []float32 {
	best := -1
	for i, p := range a.free {
		if c := cap(*p); c >= n && c <= n*reuseSlack && (best < 0 || c < cap(*a.free[best])) {
			best = i
		}
	}
	var p *[]float32
	if best >= 0 {
		p = a.free[best]
		last := len(a.free) - 1
		a.free[best], a.free[last] = a.free[last], nil
		a.free = a.free[:last]
		*p = (*p)[:n]
	} else {
		b := make([]float32, n)
		p = &b
	}
	a.live = append(a.live, liveBuf{buf: p})
	return *p
}

// owner returns the index in live of the buffer t's data lies in, or -1
// when t's data is not from the arena (an input, a constant, a result of
// another allocator). Views (Reshape, Flatten, Identity) lie in the buffer
// of the tensor they view, whatever their offset.
func (a *arena) owner(t *onnx.Tensor) int {
	d, ok := t.Data.([]float32)
	if !ok || cap(d) == 0 {
		return -1
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
	for i, lb := range a.live {
		b := *lb.buf
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if p >= lo && p < lo+uintptr(cap(b))*4 {
			return i
		}
	}
	return -1
}

// retain counts one more tensor of the environment in t's buffer.
func (a *arena) retain(t *onnx.Tensor) {
	if i := a.owner(t); i >= 0 {
		a.live[i].refs++
	}
}

// release counts one tensor of the environment less in t's buffer and
// frees the buffer when none is left.
func (a *arena) release(t *onnx.Tensor) {
	if i := a.owner(t); i >= 0 {
		a.live[i].refs--
		if a.live[i].refs <= 0 {
			a.drop(i)
		}
	}
}

// collect frees every live buffer that no tensor references: the
// temporaries and discarded results of the step that just ran.
func (a *arena) collect() {
	for i := len(a.live) - 1; i >= 0; i-- {
		if a.live[i].refs <= 0 {
			a.drop(i)
		}
	}
}

func (a *arena) drop(i int) {
	a.free = append(a.free, a.live[i].buf)
	last := len(a.live) - 1
	a.live[i] = a.live[last]
	a.live[last] = liveBuf{}
	a.live = a.live[:last]
}

// giveAway takes the buffer t's data lies in, if it is the arena's, out of
// the arena for good: for a tensor a run returns that is a view of a
// tensor from the arena (returned tensors are otherwise allocated outside
// it). The arena allocates another buffer when a later run needs one.
func (a *arena) giveAway(t *onnx.Tensor) {
	if i := a.owner(t); i >= 0 {
		last := len(a.live) - 1
		a.live[i] = a.live[last]
		a.live[last] = liveBuf{}
		a.live = a.live[:last]
	}
}

// reset frees every buffer of the run, at its end.
func (a *arena) reset() {
	for i := len(a.live) - 1; i >= 0; i-- {
		a.drop(i)
	}
}

// arenas are a session's arenas, one per run in progress, kept between
// runs.
type arenas struct {
	mu   sync.Mutex
	idle []*arena
}

func (s *arenas) take() *arena {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.idle); n > 0 {
		a := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return a
	}
	return &arena{}
}

func (s *arenas) put(a *arena) {
	a.reset()
	s.mu.Lock()
	s.idle = append(s.idle, a)
	s.mu.Unlock()
}

// clear lets the garbage collector have every idle arena's buffers.
func (s *arenas) clear() {
	s.mu.Lock()
	s.idle = nil
	s.mu.Unlock()
}

// outSlice returns a zeroed slice of n elements for an operator's output:
// float32 from the run's arena when there is one, anything else from the
// heap. Operators that write every element use outSliceRaw.
func outSlice[T any](c *runCtx, n int) []T {
	s := outSliceRaw[T](c, n)
	if c.arenaOut() {
		clear(s)
	}
	return s
}

// outSliceRaw is outSlice with undefined contents.
func outSliceRaw[T any](c *runCtx, n int) []T {
	var z T
	if _, ok := any(z).(float32); ok && c.arenaOut() {
		return any(c.mem.get(n)).([]T)
	}
	return make([]T, n)
}

// arenaOut reports whether outputs come from the run's arena.
func (c *runCtx) arenaOut() bool { return c != nil && c.mem != nil && !c.heapOut }

// scratchSliceRaw returns n float32s of undefined contents for an
// operator's own use during its step (a convolution's padded input, its
// blocks): from the run's arena, which takes them back after the step,
// even while the step's outputs go to the caller (runCtx.heapOut); a
// model whose last convolution is its output took them from the heap on
// every run.
func scratchSliceRaw(c *runCtx, n int) []float32 {
	if c != nil && c.mem != nil {
		return c.mem.get(n)
	}
	return make([]float32, n)
}
