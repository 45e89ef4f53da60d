//go:build !purego

package sim

//go:noescape
func deinterleaveAVX512(even, odd, src *float32, n int)

// deinterleaveFast reports whether deinterleave has assembly here.
func deinterleaveFast() bool { return hasAVX512 }

// deinterleave writes src[2i] to even[i] and src[2i+1] to odd[i] for
// every i < len(even); odd is as long as even and src twice as long.
func deinterleave(even, odd, src []float32) {
	n := len(even)
	if n == 0 || !hasAVX512 {
		deinterleaveGo(even, odd, src)
		return
	}
	_, _ = odd[n-1], src[2*n-1]
	deinterleaveAVX512(&even[0], &odd[0], &src[0], n)
}
