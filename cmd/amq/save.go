package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"amq/onnx"
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
			m, err := onnx.LoadFile(model)
			if err != nil {
				return err
			}
			cfg, err := quant.ReadConfig(config)
			if err != nil {
				return err
			}
			rec, err := quant.ReadRecord(record)
			if err != nil {
				return err
			}
			// The same Conv+BN fusion as preprocess and calibrate, which
			// computed the record for the fused weights.
			fused, err := quant.FuseConvBN(m, cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			layers, _, err := quant.FindLayers(m, quant.FindOptions{})
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			// As preprocess and calibrate: a config made for another
			// model must not quantize just the layers that match.
			for _, name := range cfg.LayerNames() {
				if !hasLayer(layers, name) && cfg.Layers[name].QuantEnable {
					return fmt.Errorf("%s: layer %q is not a quantizable layer of %s", config, name, model)
				}
			}
			rep, err := quant.Save(m, layers, cfg, rec, out, quant.SaveOptions{})
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			w := cmd.OutOrStdout()
			printFused(w, fused)
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
