package sim

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parallelFor splits [0, n) into at most threads contiguous chunks and runs
// fn on each, the first on the calling goroutine and the others on the
// pool's workers (or goroutines of their own when none is idle). Work
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
	j := &poolJob{fn: fn, done: make(chan struct{}, 1)}
	j.pending.Store(int32((n+per-1)/per - 1))
	for lo := per; lo < n; lo += per {
		workers.run(j, lo, min(lo+per, n))
	}
	fn(0, per)
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

// poolJob is one parallelFor call: its chunks still running on workers
// and the channel its last one signals when the caller stopped spinning.
type poolJob struct {
	fn      func(lo, hi int)
	pending atomic.Int32
	done    chan struct{}
}

// finish marks one of the job's chunks on a worker done.
func (j *poolJob) finish() {
	if j.pending.Add(-1) == 0 {
		j.done <- struct{}{} // buffered: the only send
	}
}

// wait returns once every chunk on a worker is done.
func (j *poolJob) wait() {
	if spinUntil(func() bool { return j.pending.Load() == 0 }) {
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

// worker is a pool goroutine: the task set before its state turns busy.
type worker struct {
	state  atomic.Int32
	wake   chan struct{}
	job    *poolJob
	lo, hi int
}

// run runs chunk [lo, hi) of j on an idle worker, a new one while the
// pool has fewer than GOMAXPROCS-1, or a goroutine of its own.
func (p *workerPool) run(j *poolJob, lo, hi int) {
	p.mu.Lock()
	var w *worker
	if k := len(p.idle); k > 0 {
		w = p.idle[k-1]
		p.idle = p.idle[:k-1]
	} else if p.count < max(1, runtime.GOMAXPROCS(0)-1) {
		p.count++
		w = &worker{wake: make(chan struct{}, 1)}
		w.state.Store(workerBusy)
		w.job, w.lo, w.hi = j, lo, hi
		p.mu.Unlock()
		go w.loop(p)
		return
	}
	p.mu.Unlock()
	if w == nil {
		go func() {
			j.fn(lo, hi)
			j.finish()
		}()
		return
	}
	w.job, w.lo, w.hi = j, lo, hi
	if w.state.Swap(workerBusy) == workerParked {
		w.wake <- struct{}{}
	}
}

// loop runs the worker's tasks: after each it goes back to the idle list
// and spins for the next, then parks.
func (w *worker) loop(p *workerPool) {
	for {
		j := w.job
		j.fn(w.lo, w.hi)
		w.job = nil
		j.finish()
		w.state.Store(workerSpinning)
		p.mu.Lock()
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		if !spinUntil(func() bool { return w.state.Load() == workerBusy }) && w.state.CompareAndSwap(workerSpinning, workerParked) {
			<-w.wake
		}
	}
}
