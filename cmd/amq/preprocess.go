package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"amq/backend"
	"amq/dataset"
	"amq/quant"
)

func init() { subcommands = append(subcommands, newPreprocessCmd) }

// calibFlags are the settings preprocess and calibrate share.
type calibFlags struct {
	model, config, record string
	data                  dataFlags
	backend               backendFlags
	shard                 shardFlags
}

func (f *calibFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "ONNX model (the original, unbalanced; required)")
	fl.StringVar(&f.config, "config", "", "JSON quant config from amq create-config (required)")
	fl.StringVar(&f.record, "record", "", "record file (required, but for preprocess --stats)")
	f.data.add(fl)
	f.backend.add(fl, "sim")
	f.shard.add(fl)
	for _, r := range []string{"model", "config", "data"} {
		cmd.MarkFlagRequired(r)
	}
}

// calibSetup is what both commands load before running batches.
type calibSetup struct {
	prep    *quant.Prepared
	backend backend.Backend
	data    *dataset.Source
	release func() // the lock on the record
}

// close closes the data and releases the lock on the record.
func (s *calibSetup) close() {
	s.data.Close()
	s.release()
}

// load opens the backend, reads the model, config and data, and prepares
// the model for the flow as amq quantize and amq save do, so that the
// factors fit the weights amq save quantizes. The backend's runs stop
// when ctx is cancelled.
func (f *calibFlags) load(ctx context.Context, w io.Writer) (*calibSetup, error) {
	out := f.record
	if f.shard.stats != "" {
		out = f.shard.stats
	}
	if err := checkOutput(out); err != nil {
		return nil, err
	}
	// One writer per output: calibrate reads the record and writes it
	// back; a shard writes only its stats file, so shards run side by side.
	release, err := lockOutput(out, false, w)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	b, err := f.backend.open()
	if err != nil {
		return nil, err
	}
	m, cfg, err := loadModelConfig(f.model, f.config)
	if err != nil {
		return nil, err
	}
	p, err := prepare(m, cfg, f.model, f.config)
	if err != nil {
		return nil, err
	}
	printFused(w, p.Fused)
	data, err := f.data.open(m.Graph, w)
	if err != nil {
		return nil, err
	}
	ok = true
	return &calibSetup{prep: p, backend: backend.WithContext(ctx, b), data: data, release: release}, nil
}

func newPreprocessCmd() *cobra.Command {
	var f calibFlags
	var joint bool
	cmd := &cobra.Command{
		Use:   "preprocess --model M.onnx --config config.json --data calib.npy --record record.txt",
		Short: "Compute DMQ balance factors over calibration data (AMCT's quantize_preprocess)",
		Long: `Preprocess runs every batch of --data through the model and records, for
each layer whose config has a dmq_balancer, the balance factors
s_j = max|X_j|^a / max|W_j|^(1-a) in the record file (tensor_balance_factor).
The maxima accumulate over all batches (AMCT keeps only the last batch's).

--joint gives the layers that read the same tensor one set of factors, so
that the balance can later be folded into the tensor's producer; by default
each layer has its own factors, as in AMCT.

With --stats FILE (and --shard K/N) it runs batches K, K+N, ... only and
writes their per-channel maxima to FILE instead of the record; amq merge
combines the N files into the record one process would write.

Layers whose config has amq's amq_alpha_search (amq create-config --alpha
auto) get no balance or the migration strength of the search's grid whose
quantized output is closest to the float output on --data; each choice is
printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			shard, sharded, err := f.shard.parse()
			if err != nil {
				return err
			}
			if !sharded && f.record == "" {
				return fmt.Errorf(`required flag(s) "record" not set`)
			}
			s, err := f.load(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.close()
			p := s.prep
			if sharded {
				return preprocessShard(cmd, &f, s, shard, joint)
			}
			prog := progressOf(cmd)
			data := prog.source(quant.ContextSource(cmd.Context(), s.data), "preprocess", s.data.Len())
			rec, choices, err := quant.PreprocessChoices(p.Model, p.Layers, p.Config, s.backend, data, quant.DMQOptions{Joint: joint})
			prog.finish()
			if err != nil {
				return fmt.Errorf("%s: %w", f.model, err)
			}
			if err := quant.WriteRecord(f.record, rec); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			balanced := 0
			var check *quant.OutputCheck
			for _, l := range p.Layers {
				if c := choices[l.Name]; c != nil {
					fmt.Fprintf(w, "α search: %s: %s\n", l.Name, c)
					check = c.Output
				}
				if r := rec[l.Name]; r != nil && len(r.BalanceFactor) > 0 {
					balanced++
				}
			}
			if check != nil {
				fmt.Fprintln(w, check)
			}
			fmt.Fprintf(w, "balance factors for %d layers from %d batches of %d samples\nwrote %s\n",
				balanced, s.data.Len(), s.data.Size, f.record)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&joint, "joint", false, "one set of factors for all layers reading the same tensor")
	return cmd
}

// preprocessShard runs one shard of preprocess and writes its stats file.
func preprocessShard(cmd *cobra.Command, f *calibFlags, s *calibSetup, shard quant.Shard, joint bool) error {
	id, err := statsIdentity(f.model, f.config, s.data.Size)
	if err != nil {
		return err
	}
	p := s.prep
	prog := progressOf(cmd)
	data := prog.shardSource(quant.ContextSource(cmd.Context(), s.data), "preprocess", shard, s.data.Len())
	err = quant.PreprocessShard(p.Model, p.Layers, p.Config, s.backend, data, quant.DMQOptions{Joint: joint}, shard, id, f.shard.stats)
	prog.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "preprocess shard %s: balance statistics of %d of %d batches of %d samples\nwrote %s\n",
		shard, shard.Batches(s.data.Len()), s.data.Len(), s.data.Size, f.shard.stats)
	return nil
}
