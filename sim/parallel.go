package sim

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parallelFor splits [0, n) into at most threads contiguous chunks and runs
// fn on each. The calling goroutine and the pool's workers (or goroutines
// of their own when none is idle) take the chunks in turn, so that the
// caller, once done with its own, runs those no worker has started (on a
// machine whose other cores are busy) rather than wait for them. Work
// smaller than grain items per chunk runs on fewer chunks, since handing
// a chunk over costs more than a tiny loop.
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
	per := (n + chunks - 1) / chunks
	j := &poolJob{fn: fn, n: n, per: per, chunks: (n + per - 1) / per, done: make(chan struct{}, 1)}
	j.left.Store(int32(j.chunks))
	for range j.chunks - 1 {
		workers.run(j)
	}
	j.work()
	j.wait()
}

// The worker pool. A parallel section handed to goroutines started for
// it waited, at batch 1 on two threads, 10 to 150 µs for the second
// core to pick its goroutine up: between sections the idle thread parks,
// and waking a parked thread (a halted vCPU under a hypervisor) takes
// that long, about 7% of ResNet-18's run over its ~70 sections. The
// pool's workers, and a caller waiting for its workers, spin for
// poolSpin before they park, so that the next section, usually a few µs
// of Go code away, finds them running.
var workers = &workerPool{}

// poolSpin is how long an idle worker, or a caller whose workers are
// still busy, spins before it parks: longer than the serial stretches
// between the sections of a run, short enough that the CPU a spinning
// worker burns between runs is small beside the run.
const poolSpin = 200 * time.Microsecond

// poolJob is one parallelFor call: chunks chunks of per items of [0, n),
// the next one to take, how many are not done yet, and the channel the
// last one done signals when the caller stopped spinning.
type poolJob struct {
	fn             func(lo, hi int)
	n, per, chunks int
	next, left     atomic.Int32
	done           chan struct{}
}

// work runs the job's chunks that no one has taken yet, one at a time.
func (j *poolJob) work() {
	for {
		k := int(j.next.Add(1)) - 1
		if k >= j.chunks {
			return
		}
		lo := k * j.per
		j.fn(lo, min(lo+j.per, j.n))
		if j.left.Add(-1) == 0 {
			j.done <- struct{}{} // buffered: the only send
		}
	}
}

// wait returns once every chunk is done.
func (j *poolJob) wait() {
	if spinUntil(func() bool { return j.left.Load() == 0 }) {
		return
	}
	<-j.done
}

// spinUntil calls ready, yielding the processor between calls, until it
// reports true (then spinUntil does) or poolSpin has passed.
func spinUntil(ready func() bool) bool {
	start := time.Now()
	for i := 0; ; i++ {
		if ready() {
			return true
		}
		if i%16 == 15 && time.Since(start) > poolSpin {
			return false
		}
		runtime.Gosched()
		osYield()
	}
}

// workerPool keeps up to GOMAXPROCS-1 worker goroutines (at least one),
// the idle ones in idle.
type workerPool struct {
	mu    sync.Mutex
	idle  []*worker
	count int
}

// worker states: spinning idle, parked idle (waiting on wake), given a
// task.
const (
	workerSpinning = iota
	workerParked
	workerBusy
)

// worker is a pool goroutine: the job set before its state turns busy.
type worker struct {
	state atomic.Int32
	wake  chan struct{}
	job   *poolJob
}

// run has an idle worker, a new one while the pool has fewer than
// GOMAXPROCS-1, or a goroutine of its own work on j.
func (p *workerPool) run(j *poolJob) {
	p.mu.Lock()
	var w *worker
	if k := len(p.idle); k > 0 {
		w = p.idle[k-1]
		p.idle = p.idle[:k-1]
	} else if p.count < max(1, runtime.GOMAXPROCS(0)-1) {
		p.count++
		w = &worker{wake: make(chan struct{}, 1), job: j}
		w.state.Store(workerBusy)
		p.mu.Unlock()
		go w.loop(p)
		return
	}
	p.mu.Unlock()
	if w == nil {
		go j.work()
		return
	}
	w.job = j
	if w.state.Swap(workerBusy) == workerParked {
		w.wake <- struct{}{}
	}
}

// loop works on the worker's jobs: after each it goes back to the idle
// list and spins for the next, then parks.
func (w *worker) loop(p *workerPool) {
	for {
		w.job.work()
		w.job = nil
		w.state.Store(workerSpinning)
		p.mu.Lock()
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		if !spinUntil(func() bool { return w.state.Load() == workerBusy }) && w.state.CompareAndSwap(workerSpinning, workerParked) {
			<-w.wake
		}
	}
}
