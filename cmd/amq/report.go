package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"amq/quant"
	"amq/report"
)

func init() { subcommands = append(subcommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var from, out string
	cmd := &cobra.Command{
		Use:   "report --from results/m_report.json",
		Short: "Make a run's Markdown report and plots again from its _report.json",
		Long: `Report reads the <out>_report.json that amq quantize (or amq demo) wrote and
writes <out>_report.md and the PNG plots again from it alone, next to it
(or under --out): the SQNR of every layer, the balance of the layers whose
activation channels stand out most, and activation histograms with their
int8 ranges. The files appear together or not at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.OutOrStdout(), from, out)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the run's <out>_report.json (required)")
	cmd.Flags().StringVar(&out, "out", "", "output prefix for the .md and plots (default: the JSON's folder and name)")
	cmd.MarkFlagRequired("from")
	return cmd
}

func runReport(w io.Writer, from, out string) error {
	// The lock of the prefix the files are written under: --out, or the
	// run's own, which its JSON's name tells.
	prefix, mkdir := out, true
	if out == "" {
		prefix, mkdir = strings.TrimSuffix(from, "_report.json"), false
	}
	if prefix != from && !strings.HasSuffix(prefix, string(filepath.Separator)) {
		release, err := lockOutput(prefix, mkdir, os.Stderr)
		if err != nil {
			return err
		}
		defer release()
	}
	paths, err := report.Regenerate(from, out)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	return nil
}

// reportHook returns RunFlow's BeforeCommit hook: it writes the report of
// the run under prefix (its JSON, Markdown and plots) into the run's
// staging folder, so that the report appears with the four outputs or not
// at all, and appends the paths they will have to wrote.
func reportHook(prefix, model, backend string, wrote *[]string) func(*quant.QuantizeReport, func(string) string) error {
	return func(rep *quant.QuantizeReport, path func(string) string) error {
		r := report.New(rep, prefix, report.Run{Command: os.Args, Model: model, Backend: backend, Created: time.Now()})
		files, err := report.Files(r)
		if err != nil {
			return err
		}
		if err := report.WriteTo(files, path); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		for _, f := range files {
			*wrote = append(*wrote, filepath.Join(filepath.Dir(prefix), f.Name))
		}
		return nil
	}
}
