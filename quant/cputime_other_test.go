//go:build !unix

package quant

import "time"

// processCPUTime is 0 where getrusage is missing: benchmarks then report
// no CPU-time ratio.
func processCPUTime() time.Duration { return 0 }
