package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"amq/sim"
)

// startProfiles writes a CPU profile of the whole command to
// $AMQ_CPUPROFILE and, when it returns, a heap profile to $AMQ_MEMPROFILE
// (each only when set), so that the flow can be profiled as a user runs it
// (BenchmarkFlow, scripts/bench-run.sh) rather than inside a test binary;
// sim's samples carry the op being executed (sim.LabelProfiles).
// The returned function stops them; a failure to write a profile is
// reported but does not fail the command.
func startProfiles() (stop func()) {
	var cpu *os.File
	if path := os.Getenv("AMQ_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "amq: AMQ_CPUPROFILE: %v\n", err)
		} else {
			cpu = f
			sim.LabelProfiles(true) // `go tool pprof -tags` splits sim's time by op
		}
	}
	if os.Getenv("AMQ_MEMPROFILE") != "" {
		runtime.MemProfileRate = 64 << 10 // the default 512 KiB misses the arena's blocks
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if path := os.Getenv("AMQ_MEMPROFILE"); path != "" {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "amq: AMQ_MEMPROFILE: %v\n", err)
			}
		}
	}
}
