package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"amq/quant"
)

func init() { subcommands = append(subcommands, newSaveCmd) }

func newSaveCmd() *cobra.Command {
	var model, config, record, out string
	c := &cobra.Command{
		Use:   "save",
		Short: "Write the fake-quant and deploy models from a config and a record (AMCT's save_model)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(out); err != nil {
				return err
			}
			release, err := lockOutput(out, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer release()
			m, cfg, err := loadModelConfig(model, config)
			if err != nil {
				return err
			}
			rec, err := quant.ReadRecord(record)
			if err != nil {
				return err
			}
			p, err := prepare(m, cfg, model, config)
			if err != nil {
				return err
			}
			rep, err := quant.SaveContext(cmd.Context(), p.Model, p.Found, p.Config, rec, out, quant.SaveOptions{})
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			w := cmd.OutOrStdout()
			printFused(w, p.Fused)
			fmt.Fprintf(w, "quantized %d layers\n", len(rep.Quantized))
			for _, s := range rep.Skipped {
				fmt.Fprintf(w, "  not quantized: %s (%s): %s\n", s.Layer, s.Type, s.Rule)
			}
			for _, s := range rep.Warnings {
				fmt.Fprintf(w, "warning: %s\n", s)
			}
			fmt.Fprintf(w, "wrote %s\nwrote %s\n", rep.FakeQuantPath, rep.DeployPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "ONNX model (the original, unbalanced)")
	f.StringVar(&config, "config", "", "JSON quant config (amq create-config)")
	f.StringVar(&record, "record", "", "record file with the quant factors")
	f.StringVar(&out, "out", "", "output prefix: writes <out>_fake_quant_model.onnx and <out>_deploy_model.onnx")
	for _, r := range []string{"model", "config", "record", "out"} {
		c.MarkFlagRequired(r)
	}
	return c
}
