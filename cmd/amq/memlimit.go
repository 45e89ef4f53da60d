package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// limitMemory bounds the Go heap's growth: by a soft limit of three
// quarters of the memory the machine (or the cgroup amq runs in) has,
// unless GOMEMLIMIT sets one, and, unless GOGC is set, by collecting when
// the heap has grown by a quarter (gcPercent) rather than doubled. The
// flow's heap is mostly weight copies and activations, slices without
// pointers that the collector does not scan, so collecting more often
// costs little, while doubling a heap of weights would double the memory
// a large model needs (docs/design.md "Loading large models").
// Memory-mapped weights are outside the heap and the limit.
func limitMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if n := machineMemory(); n > 0 {
		debug.SetMemoryLimit(n / 4 * 3)
	}
}

// gcPercent is amq's GOGC unless the environment sets one.
const gcPercent = 25

// machineMemory is the smaller of MemTotal in /proc/meminfo and the cgroup
// v2 or v1 memory limit, in bytes; 0 when neither is known.
func machineMemory() int64 {
	total := memTotal()
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

// memTotal reads MemTotal from /proc/meminfo (in kB there).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
