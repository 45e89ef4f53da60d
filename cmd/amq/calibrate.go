package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"amq/quant"
)

func init() { subcommands = append(subcommands, newCalibrateCmd) }

func newCalibrateCmd() *cobra.Command {
	var f calibFlags
	cmd := &cobra.Command{
		Use:   "calibrate --model M.onnx --config config.json --record record.txt --data calib.npy",
		Short: "Compute activation and weight quant factors (AMCT's quantize_model + calibration)",
		Long: `Calibrate applies the balance factors of --record (from amq preprocess) to
the model, runs batch_num batches of --data, and computes each enabled
layer's activation scale/offset (IFMR or HFMG, per the config) and weight
scales (ARQ). The factors are written back to --record, next to the
balance factors. Without DMQ in the config, --record need not exist yet.

With --stats FILE (and --shard K/N) it runs batches K, K+N, ... of the
first batch_num only and writes what the calibrators observe to FILE,
leaving --record alone; amq merge combines the N files into the record one
process would write.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			shard, sharded, err := f.shard.parse()
			if err != nil {
				return err
			}
			if f.record == "" {
				return fmt.Errorf(`required flag(s) "record" not set`)
			}
			s, err := f.load(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.close()
			rec, err := quant.ReadRecord(f.record)
			if errors.Is(err, fs.ErrNotExist) {
				rec, err = quant.Record{}, nil
			}
			if err != nil {
				return err
			}
			p := s.prep
			if s.data.Len() < p.Config.BatchNum {
				return fmt.Errorf("%s: batch_num is %d but %s holds %d batches of %d samples", f.config, p.Config.BatchNum, f.data.path, s.data.Len(), s.data.Size)
			}
			if sharded {
				return calibrateShard(cmd, &f, s, rec, shard)
			}
			prog := progressOf(cmd)
			data := prog.source(quant.ContextSource(cmd.Context(), s.data), "calibrate", p.Config.BatchNum)
			err = quant.Calibrate(p.Model, p.Layers, p.Config, rec, s.backend, data)
			prog.finish()
			if err != nil {
				return fmt.Errorf("%s: %w", f.model, err)
			}
			if err := quant.WriteRecord(f.record, rec); err != nil {
				return err
			}
			n := 0
			for _, r := range rec {
				if r.HasQuant {
					n++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "quant factors for %d layers from %d batches of %d samples\nwrote %s\n",
				n, p.Config.BatchNum, s.data.Size, f.record)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// calibrateShard runs one shard of calibrate and writes its stats file.
func calibrateShard(cmd *cobra.Command, f *calibFlags, s *calibSetup, rec quant.Record, shard quant.Shard) error {
	id, err := statsIdentity(f.model, f.config, s.data.Size)
	if err != nil {
		return err
	}
	p := s.prep
	prog := progressOf(cmd)
	data := prog.shardSource(quant.ContextSource(cmd.Context(), s.data), "calibrate", shard, p.Config.BatchNum)
	err = quant.CalibrateShard(p.Model, p.Layers, p.Config, rec, s.backend, data, shard, id, f.shard.stats)
	prog.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "calibrate shard %s: activations of %d of %d batches of %d samples\nwrote %s\n",
		shard, shard.Batches(p.Config.BatchNum), p.Config.BatchNum, s.data.Size, f.shard.stats)
	return nil
}
