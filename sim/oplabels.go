package sim

import (
	"context"
	"runtime/pprof"
	"sync/atomic"
)

// labelOps says whether runs label their goroutines with the operator of
// each step (LabelProfiles).
var labelOps atomic.Bool

// LabelProfiles makes every run from now on label the CPU profile's
// samples with the op type of the step being executed ("op" label; a
// grouped Conv as "Conv(grouped)", a fused pair as "Conv+Relu"), the goroutines a step starts included, so
// that `go tool pprof -tags` splits sim's time by operator. amq turns it on
// with $AMQ_CPUPROFILE. Off, it costs a flag test per step.
func LabelProfiles(on bool) { labelOps.Store(on) }

// setOpLabel labels the calling goroutine with op, or with nothing when op
// is "".
func setOpLabel(op string) {
	ctx := context.Background()
	if op != "" {
		ctx = pprof.WithLabels(ctx, pprof.Labels("op", op))
	}
	pprof.SetGoroutineLabels(ctx)
}
