//go:build !purego

package sim

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestAscendAVX2RoutinesMatchDefinition runs the AscendQuant and
// AscendDequant checks on the AVX2 routines, which CPUs without AVX-512
// use. Not parallel: it switches the routines for the whole package.
func TestAscendAVX2RoutinesMatchDefinition(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2 on this machine: the scalar loops run, which the other tests check")
	}
	saved := ascendAVX512
	ascendAVX512 = false
	defer func() { ascendAVX512 = saved }()
	checkQuantizeInt8s(t)
	checkDequantRun(t)
	checkDequantCols(t)
}
