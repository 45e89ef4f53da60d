package sim

import "testing"

func TestScratchReusesBuffersAcrossGoroutines(t *testing.T) {
	var s scratch[float32]
	small, large := s.get(100), s.get(10000)
	done := make(chan struct{})
	go func() {
		s.put(small)
		s.put(large)
		close(done)
	}()
	<-done
	// The smallest buffer large enough, whichever goroutine returned it.
	if got := s.get(50); got != small || len(*got) != 50 {
		t.Errorf("get(50) did not reuse the 100-element buffer")
	}
	if got := s.get(5000); got != large || len(*got) != 5000 {
		t.Errorf("get(5000) did not reuse the 10000-element buffer")
	}
	if got := s.get(20000); got == small || got == large || len(*got) != 20000 {
		t.Errorf("get(20000) returned a buffer that is too small")
	}
}

func TestScratchSpillsPastItsBudget(t *testing.T) {
	var s scratch[int64]
	big := s.get(scratchKeepBytes/8 + 1)
	s.put(big)
	if len(s.free) != 0 || s.bytes != 0 {
		t.Errorf("a buffer over the budget was listed: %d buffers, %d bytes", len(s.free), s.bytes)
	}
	for range scratchKeep + 3 {
		s.put(&[]int64{0})
	}
	if len(s.free) != scratchKeep || s.bytes != scratchKeep*8 {
		t.Errorf("listed %d buffers (%d bytes), want %d (%d bytes)", len(s.free), s.bytes, scratchKeep, scratchKeep*8)
	}
}
