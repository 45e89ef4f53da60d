package main

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"amq/quant"
)

func init() { subcommands = append(subcommands, newMergeCmd) }

func newMergeCmd() *cobra.Command {
	var model, config, record string
	var stats []string
	cmd := &cobra.Command{
		Use:   "merge --model M.onnx --config config.json --stats F1 F2 ... --record record.txt",
		Short: "Merge the stats files of a sharded preprocess or calibrate run into the record",
		Long: `Merge reads the stats files that amq preprocess or amq calibrate wrote with
--shard K/N --stats FILE, one per shard, in any order, and writes the record
that one process running every batch writes, byte for byte: the balance
factors after preprocess, or the quant factors after calibrate, added to
--record (which holds the balance factors the shards calibrated with, as
amq calibrate reads them).

The files must be all N shards of one run of one phase, each once, for
--model and --config, written by this amq; otherwise merge names the file
and writes nothing.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files := append(append([]string(nil), stats...), args...)
			if len(files) == 0 {
				return fmt.Errorf("give the stats files: --stats F1 F2 ...")
			}
			if err := checkOutput(record); err != nil {
				return err
			}
			start := time.Now()
			phase, err := quant.StatsPhase(files[0])
			if err != nil {
				return err
			}
			m, cfg, err := loadModelConfig(model, config)
			if err != nil {
				return err
			}
			p, err := prepare(m, cfg, model, config)
			if err != nil {
				return err
			}
			id, err := statsIdentity(model, config, 0)
			if err != nil {
				return err
			}
			var rec quant.Record
			if phase == "preprocess" {
				rec, err = quant.MergePreprocess(p.Model, p.Layers, p.Config, id, files)
			} else {
				rec, err = quant.ReadRecord(record)
				if errors.Is(err, fs.ErrNotExist) {
					rec, err = quant.Record{}, nil
				}
				if err != nil {
					return err
				}
				err = quant.MergeCalibrate(p.Model, p.Layers, p.Config, rec, id, files)
			}
			if err != nil {
				return err
			}
			if err := quant.WriteRecord(record, rec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %s statistics of %d shards in %.2f s\nwrote %s\n",
				phase, len(files), time.Since(start).Seconds(), record)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&model, "model", "", "ONNX model the shards ran (required)")
	fl.StringVar(&config, "config", "", "JSON quant config the shards ran (required)")
	fl.StringVar(&record, "record", "", "record file to write (preprocess) or update (calibrate) (required)")
	fl.StringSliceVar(&stats, "stats", nil, "stats files, one per shard (more may follow as arguments)")
	for _, r := range []string{"model", "config", "record"} {
		cmd.MarkFlagRequired(r)
	}
	return cmd
}
