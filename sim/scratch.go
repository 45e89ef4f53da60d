package sim

import "sync"

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
type scratch[T any] struct{ pool sync.Pool }

var (
	f32Scratch scratch[float32]
	i64Scratch scratch[int64]
)

// get returns a buffer of n elements with undefined contents.
func (s *scratch[T]) get(n int) *[]T {
	p, _ := s.pool.Get().(*[]T)
	if p == nil || cap(*p) < n {
		b := make([]T, n)
		return &b
	}
	*p = (*p)[:n]
	return p
}

func (s *scratch[T]) put(p *[]T) { s.pool.Put(p) }
