package sim

import (
	"sync"
	"unsafe"
)

// forEachImage calls one for every (batch item, group) pair. Large
// problems run one after the other, each using all threads; small ones run
// side by side, one thread each, since a small GEMM does not split well.
// Each worker gets a scratch buffer of bufLen elements from pool, with
// undefined contents.
func forEachImage[T any](batch, groups, work, threads, bufLen int, pool *scratch[T], one func(bi, gi int, buf []T, threads int)) {
	total := batch * groups
	if threads <= 1 || total == 1 || work >= 1<<22 {
		buf := pool.get(bufLen)
		defer pool.put(buf)
		for i := 0; i < total; i++ {
			one(i/groups, i%groups, *buf, threads)
		}
		return
	}
	parallelFor(threads, total, 1, func(lo, hi int) {
		buf := pool.get(bufLen)
		defer pool.put(buf)
		for i := lo; i < hi; i++ {
			one(i/groups, i%groups, *buf, 1)
		}
	})
}

// scratch keeps im2col and col2im buffers between runs: allocating and
// zeroing megabytes on every call cost as much as filling them.
//
// Up to scratchKeep buffers of at most scratchKeepBytes in all wait in a
// list and get takes the smallest that is large enough, so that a steady
// run finds its buffers whichever goroutine asks; a sync.Pool keeps one
// buffer a P, which a worker scheduled on another P cannot reach, and on
// a loaded machine runs then allocated megabytes. The rest go to a
// sync.Pool, which the collector empties, so that one large product (an
// LLM's int8 MatMul) does not pin its buffer for the process's life.
type scratch[T any] struct {
	mu    sync.Mutex
	free  []*[]T
	bytes int // held in free
	spill sync.Pool
}

const (
	scratchKeep      = 32
	scratchKeepBytes = 64 << 20
)

var (
	f32Scratch scratch[float32]
	i64Scratch scratch[int64]
)

// get returns a buffer of n elements with undefined contents.
func (s *scratch[T]) get(n int) *[]T {
	if p := s.take(n); p != nil {
		*p = (*p)[:n]
		return p
	}
	if p, _ := s.spill.Get().(*[]T); p != nil && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]T, n)
	return &b
}

// take removes and returns the smallest listed buffer of at least n
// elements, or nil.
func (s *scratch[T]) take(n int) *[]T {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, p := range s.free {
		if c := cap(*p); c >= n && (best < 0 || c < cap(*s.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	p := s.free[best]
	last := len(s.free) - 1
	s.free[best], s.free[last] = s.free[last], nil
	s.free = s.free[:last]
	s.bytes -= cap(*p) * elemSize[T]()
	return p
}

func (s *scratch[T]) put(p *[]T) {
	size := cap(*p) * elemSize[T]()
	s.mu.Lock()
	if len(s.free) < scratchKeep && s.bytes+size <= scratchKeepBytes {
		s.free = append(s.free, p)
		s.bytes += size
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.spill.Put(p)
}

// elemSize is the size of a T in bytes.
func elemSize[T any]() int {
	var v T
	return int(unsafe.Sizeof(v))
}
