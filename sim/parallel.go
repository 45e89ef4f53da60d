package sim

import "sync"

// parallelFor splits [0, n) into at most threads contiguous chunks and runs
// fn on each in its own goroutine. Work smaller than grain items per chunk
// runs on fewer goroutines, since a goroutine costs more than a tiny loop.
func parallelFor(threads, n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := min(threads, (n+grain-1)/grain)
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + chunks - 1) / chunks
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
