// Command amq quantizes ONNX models to int8 for Huawei Ascend NPUs with the
// post-training flow of Huawei's AMCT, and runs models on the pure-Go
// simulator or an Ascend device.
package main

import (
	"amq/internal/atomicfile"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	stopOnSignals()
	limitMemory()
	if err := rootCmd().Execute(); err != nil {
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

// stopOnSignals makes SIGINT (Ctrl-C) and SIGTERM (what Slurm, systemd and
// timeout send) end amq at once with a message, after removing the
// temporary files and staging folders of the outputs under way, so that an
// interrupted run leaves nothing behind. The exit status is 128 plus the
// signal's number, as a shell reports it.
func stopOnSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-c
		fmt.Fprintf(os.Stderr, "\namq: stopped by %v; partial outputs removed\n", sig)
		atomicfile.RemoveAll()
		os.Exit(128 + int(sig.(syscall.Signal)))
	}()
}
