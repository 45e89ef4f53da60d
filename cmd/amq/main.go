// Command amq quantizes ONNX models to int8 for Huawei Ascend NPUs with the
// post-training flow of Huawei's AMCT, and runs models on the pure-Go
// simulator or an Ascend device.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"amq/internal/atomicfile"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stopped := stopOnSignals()
	limitMemory()
	stopProfiles := startProfiles()
	err := rootCmd().ExecuteContext(ctx)
	stopProfiles()
	stopped()
	if err != nil {
		fmt.Fprintln(os.Stderr, "amq:", err)
		os.Exit(1)
	}
}

// subcommands is filled by the init functions of the command files, so that
// each command lives in its own file.
var subcommands []func() *cobra.Command

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "amq",
		Short:         "Quantize ONNX models to int8 for Ascend NPUs (AMCT-compatible)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Bool("quiet", false, "no progress output")
	for _, c := range subcommands {
		root.AddCommand(c())
	}
	return root
}

// grace is how long a cancelled command may take to stop by itself
// before amq removes its partial outputs and exits regardless (a node or
// an NPU execution under way, ATC compiling).
const grace = 1500 * time.Millisecond

// stopOnSignals makes SIGINT (Ctrl-C) and SIGTERM (what Slurm, systemd and
// timeout send) cancel the returned context, which every step of the flow
// and every backend honours between batches, nodes and executions, so the
// command returns, freeing its device resources and removing its staging.
// stopped, called when the command has returned, then ends amq with a
// message and the exit status 128 plus the signal's number, as a shell
// reports it. A command still running after grace, or a second signal,
// ends amq at once, after removing the temporary files and staging
// folders still in use (atomicfile tracks them).
func stopOnSignals() (ctx context.Context, stopped func()) {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	var once sync.Once
	var sig atomic.Value // the first signal
	exit := func() {
		once.Do(func() {
			s := sig.Load().(syscall.Signal)
			atomicfile.RemoveAll()
			fmt.Fprintf(os.Stderr, "\namq: stopped by %v; partial outputs removed\n", s)
			os.Exit(128 + int(s))
		})
	}
	go func() {
		s := (<-c).(syscall.Signal)
		sig.Store(s)
		cancel()
		select {
		case <-c:
		case <-time.After(grace):
		}
		exit()
	}()
	return ctx, func() {
		if sig.Load() != nil {
			exit()
		}
	}
}
