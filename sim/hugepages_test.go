package sim

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestWeightFloatsHoldsWhatFillWrote checks that packed weights of every
// size class (small, whole huge pages inside, aligned to a huge page) are
// n floats, zero before fill (also in heap memory written before, whose
// pages hugePages drops), with what fill wrote, and that the largest
// start on a huge page.
func TestWeightFloatsHoldsWhatFillWrote(t *testing.T) {
	for range 3 {
		dirty := make([]float32, 6<<20)
		for i := range dirty {
			dirty[i] = 7
		}
		runtime.KeepAlive(dirty)
		runtime.GC()
	}
	for _, n := range []int{1, 1000, hugeInner/4 - 1, hugeInner / 4, hugeInner/4 + 333, hugeAligned / 4, hugeAligned/4 + 12345} {
		s := weightFloats(n, func(d []float32) {
			if len(d) != n {
				t.Fatalf("n=%d: fill got %d floats", n, len(d))
			}
			for i := range d {
				if d[i] != 0 {
					t.Fatalf("n=%d: float %d is %v before fill", n, i, d[i])
				}
				d[i] = float32(i%1000) + 0.5
			}
		})
		if len(s) != n || cap(s) != n {
			t.Fatalf("n=%d: got len %d cap %d", n, len(s), cap(s))
		}
		for i, v := range s {
			if v != float32(i%1000)+0.5 {
				t.Fatalf("n=%d: float %d is %v, fill wrote %v", n, i, v, float32(i%1000)+0.5)
			}
		}
		if addr := uintptr(unsafe.Pointer(&s[0])); n*4 >= hugeAligned && addr%hugePage != 0 {
			t.Errorf("n=%d: starts at %#x, not on a huge page", n, addr)
		}
	}
}
