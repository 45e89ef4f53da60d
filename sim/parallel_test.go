package sim

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelForCoversEachIndexOnce checks that parallelFor hands every
// index of [0, n) to fn exactly once, in the contiguous chunks of
// ceil(n/chunks) it always cut, for thread counts above and below the
// pool's size and grains that leave fewer chunks than threads.
func TestParallelForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 5, 64, 1001} {
			for _, grain := range []int{0, 1, 7, 2000} {
				hits := make([]atomic.Int32, n)
				var mu sync.Mutex
				var spans [][2]int
				parallelFor(threads, n, grain, func(lo, hi int) {
					mu.Lock()
					spans = append(spans, [2]int{lo, hi})
					mu.Unlock()
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads %d, n %d, grain %d: index %d run %d times", threads, n, grain, i, h)
					}
				}
				chunks := min(threads, (n+max(1, grain)-1)/max(1, grain))
				if n > 0 && chunks > 1 {
					per := (n + chunks - 1) / chunks
					for _, s := range spans {
						if s[0]%per != 0 || s[1] != min(n, s[0]+per) {
							t.Fatalf("threads %d, n %d, grain %d: chunk %v, want chunks of %d", threads, n, grain, s, per)
						}
					}
				}
			}
		}
	}
}

// TestParallelForNestedAndConcurrent checks that parallelFor finishes and
// covers every index when its chunks call parallelFor themselves, when
// many goroutines call it at once (more chunks than the pool has
// workers), and when the workers have parked between calls.
func TestParallelForNestedAndConcurrent(t *testing.T) {
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				parallelFor(4, 6, 1, func(lo, hi int) {
					for range hi - lo {
						parallelFor(3, 10, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
					}
				})
			}
		}()
	}
	wg.Wait()
	if got, want := total.Load(), int64(8*20*6*10); got != want {
		t.Fatalf("nested calls covered %d indices, want %d", got, want)
	}
	time.Sleep(3 * poolSpin) // the workers park
	var n atomic.Int64
	parallelFor(2, 100, 1, func(lo, hi int) { n.Add(int64(hi - lo)) })
	if n.Load() != 100 {
		t.Fatalf("after parking: covered %d indices, want 100", n.Load())
	}
}

// TestParallelForWaitsForEveryChunk checks that parallelFor returns only
// after its slowest chunk, whichever goroutine took it.
func TestParallelForWaitsForEveryChunk(t *testing.T) {
	for range 5 {
		var done atomic.Int32
		parallelFor(4, 4, 1, func(lo, hi int) {
			time.Sleep(time.Duration(lo+1) * time.Millisecond)
			done.Add(int32(hi - lo))
		})
		if d := done.Load(); d != 4 {
			t.Fatalf("parallelFor returned with %d of 4 chunks done", d)
		}
	}
}
