//go:build !purego

package sim

// prefetchBlock asks for rows runs of n floats, stride floats apart from
// p on, to be brought into L2 (PREFETCHT1), without waiting for them: a
// tile's shortcut (convNode.addShortcut) is 64 short runs, each too short
// for the hardware prefetcher to pick up.
//
//go:noescape
func prefetchBlock(p *float32, rows, stride, n int)
