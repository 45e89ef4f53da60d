// Command amq quantizes ONNX models to int8 for Huawei Ascend NPUs with the
// post-training flow of Huawei's AMCT, and runs models on the pure-Go
// simulator or an Ascend device.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
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
