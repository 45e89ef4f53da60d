package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitIsThreeQuartersOfTheMachineUnlessGOMEMLIMITIsSet(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitMemory()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, the limit became %d", got)
	}

	t.Setenv("GOMEMLIMIT", "")
	n := machineMemory()
	if n <= 0 {
		t.Skip("the machine's memory is not known here")
	}
	limitMemory()
	if got, want := debug.SetMemoryLimit(-1), n/4*3; got != want {
		t.Errorf("limit %d, want %d (3/4 of %d)", got, want, n)
	}
}

func TestGCPercentIsAQuarterUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "1GiB")
	t.Setenv("GOGC", "")
	limitMemory()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, gcPercent)
	}
	t.Setenv("GOGC", "100")
	limitMemory()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100: GC percent %d, want 100 (left alone)", got)
	}
}
