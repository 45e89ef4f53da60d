package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"amq/quant"
	"amq/report"
)

// shardFlags are --shard and --stats of preprocess and calibrate: run one
// shard of the batches and write its statistics for amq merge instead of
// the record (docs/design.md "Sharded statistics").
type shardFlags struct {
	shard, stats string
}

func (f *shardFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.shard, "shard", "", "run shard K/N only: batches K, K+N, K+2N, ... (K from 0); needs --stats")
	fl.StringVar(&f.stats, "stats", "", "write this shard's statistics to this file for amq merge, instead of the record")
}

// parse returns the shard (0/1 when only --stats is given); ok is false
// without --stats, when the command runs as before.
func (f *shardFlags) parse() (sh quant.Shard, ok bool, err error) {
	if f.stats == "" {
		if f.shard != "" {
			return sh, false, fmt.Errorf("--shard %s needs --stats FILE, where the shard's statistics go", f.shard)
		}
		return sh, false, nil
	}
	if f.shard == "" {
		return quant.Shard{Index: 0, Count: 1}, true, nil
	}
	sh, err = quant.ParseShard(f.shard)
	return sh, err == nil, err
}

// statsIdentity is what the stats files of a run share with its merge:
// amq's version and the model and config files' digests.
func statsIdentity(model, config string, batchSize int) (quant.StatsIdentity, error) {
	id := quant.StatsIdentity{Version: report.Versions().AMQ, BatchSize: batchSize}
	var err error
	if id.ModelSHA256, err = quant.FileSHA256(model); err != nil {
		return id, err
	}
	if id.ConfigSHA256, err = quant.FileSHA256(config); err != nil {
		return id, err
	}
	return id, nil
}

// shardSource wraps d, the whole data, so that the batches of shard
// among the first total are reported as 1 to shard.Batches(total) of the
// phase named step (the shard asks for batches K, K+N, ...).
func (p *progress) shardSource(d quant.DataSource, step string, shard quant.Shard, total int) quant.DataSource {
	return &progressSource{DataSource: d, p: p, step: step, shard: shard, total: shard.Batches(total)}
}
