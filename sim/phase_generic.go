//go:build !amd64 || purego

package sim

// deinterleaveFast is false: phase planes take their Go loops here.
func deinterleaveFast() bool { return false }

// deinterleave writes src[2i] to even[i] and src[2i+1] to odd[i] for
// every i < len(even).
func deinterleave(even, odd, src []float32) { deinterleaveGo(even, odd, src) }
