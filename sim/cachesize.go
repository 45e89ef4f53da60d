package sim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// l2Bytes is the size of one core's level-2 cache, which the GEMM's and
// Conv's blocking is sized for (docs/design.md "Sim kernels"): read from
// Linux's description of the caches, or 1 MiB (Skylake-SP's, the
// smallest of the AVX-512 server cores) where there is none.
var l2Bytes = cacheBytes(2, 1<<20)

// cacheBytes returns the size of cpu0's data or unified cache of the given
// level, as /sys/devices/system/cpu describes it, or def.
func cacheBytes(level int, def int) int {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	for _, d := range dirs {
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(d, name))
			return strings.TrimSpace(string(b))
		}
		if read("level") != strconv.Itoa(level) || read("type") == "Instruction" {
			continue
		}
		size := read("size")
		mult := 1
		switch {
		case strings.HasSuffix(size, "K"):
			size, mult = strings.TrimSuffix(size, "K"), 1<<10
		case strings.HasSuffix(size, "M"):
			size, mult = strings.TrimSuffix(size, "M"), 1<<20
		}
		if n, err := strconv.Atoi(size); err == nil && n > 0 {
			return n * mult
		}
	}
	return def
}
