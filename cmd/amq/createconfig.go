package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"amq/onnx"
	"amq/quant"
	"amq/quant/configpb"
)

func init() { subcommands = append(subcommands, newCreateConfigCmd) }

func newCreateConfigCmd() *cobra.Command {
	var model, cfgPath, out, alphaMode string
	var skip []string
	var batchNum int
	c := &cobra.Command{
		Use:   "create-config",
		Short: "Write the JSON quant config for a model (AMCT's create_quant_config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alpha, err := alphaFlag(alphaMode)
			if err != nil {
				return err
			}
			if err := checkOutput(out); err != nil {
				return err
			}
			m, err := onnx.LoadFile(model)
			if err != nil {
				return err
			}
			var simple *configpb.AMCTConfig
			if cfgPath != "" {
				if simple, err = quant.LoadSimpleConfig(cfgPath); err != nil {
					return err
				}
			}
			cfg, excl, err := quant.CreateQuantConfig(m, simple, skip, batchNum)
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			if alpha != nil {
				if err := cfg.UseAlphaSearch(alpha); err != nil {
					return err
				}
			}
			if err := quant.WriteConfig(out, cfg); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d layers in %s:\n", len(cfg.Layers), out)
			for _, name := range cfg.LayerNames() {
				lc := cfg.Layers[name]
				state := "quantized"
				if !lc.QuantEnable {
					state = "disabled"
				}
				dmq := ""
				if lc.DMQ != nil {
					dmq = fmt.Sprintf(" dmq %g", lc.DMQ.MigrationStrength)
				}
				if s := lc.AlphaSearch; s != nil {
					dmq = fmt.Sprintf(" α search over %d strengths", len(s.Grid))
					if s.IncludeNone {
						dmq += " and no balance"
					}
				}
				fmt.Fprintf(w, "  %s: %s, act %s asymmetric=%v, channel_wise=%v%s\n", name, state, lc.Act.Algo, lc.Act.Asymmetric, lc.Weight.ChannelWise, dmq)
			}
			if len(excl) > 0 {
				fmt.Fprintf(w, "%d layers not quantized:\n", len(excl))
				for _, e := range excl {
					fmt.Fprintf(w, "  %s (%s): %s\n", e.Layer, e.Type, e.Rule)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "ONNX model")
	f.StringVar(&cfgPath, "cfg", "", "simplified config (.cfg, protobuf text format); defaults when omitted")
	f.StringSliceVar(&skip, "skip", nil, "layers (node names) to leave unquantized")
	f.IntVar(&batchNum, "batch-num", 0, "calibration batches (overrides the .cfg's batch_num)")
	f.StringVar(&out, "out", "config.json", "JSON quant config to write")
	f.StringVar(&alphaMode, "alpha", "", `"auto": every enabled layer gets amq's α search (amq_alpha_search) in place of its dmq_balancer`)
	c.MarkFlagRequired("model")
	return c
}
