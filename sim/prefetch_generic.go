//go:build !amd64 || purego

package sim

// prefetchBlock is a hint the portable build does without.
func prefetchBlock(p *float32, rows, stride, n int) {}
