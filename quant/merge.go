package quant

import (
	"bytes"
	"fmt"
	"slices"

	"amq/onnx"
	"amq/quant/statspb"
)

// MergePreprocess merges the stats files of a sharded preprocess run
// (PreprocessShard) and returns the record a one-process PreprocessWith
// over the same batches returns: the per-channel maxima of all shards are
// combined by maximum, which depends neither on the order of the batches
// nor on the order of the files. The --joint setting is the shards'.
func MergePreprocess(m *onnx.Model, layers []*Layer, cfg *Config, id StatsIdentity, paths []string) (Record, error) {
	set, err := openStatsSet(paths, id)
	if err != nil {
		return nil, err
	}
	defer set.close()
	if set.phase != statspb.Phase_PREPROCESS {
		return nil, fmt.Errorf("%s: %s statistics; this merge needs preprocess statistics", set.shards[0].path, phaseName(set.phase))
	}
	p, err := newBalancePlan(m, layers, cfg, DMQOptions{Joint: set.shards[0].h.Joint})
	if err != nil {
		return nil, err
	}
	if err := refuseAlphaSearch(p); err != nil {
		return nil, err
	}
	want := map[obsKey]bool{}
	for _, it := range p.items {
		want[it.key] = true
	}
	p.obs = map[obsKey]*ChannelMax{}
	for k, r := range set.shards {
		foot, err := r.footer(Shard{k, len(set.shards)}.Batches(set.batches))
		if err != nil {
			return nil, err
		}
		if len(foot.Maxima) != len(want) {
			return nil, fmt.Errorf("%s: maxima of %d activations, the config balances %d", r.path, len(foot.Maxima), len(want))
		}
		for _, cm := range foot.Maxima {
			key := obsKey{cm.Tensor, int(cm.Axis)}
			if !want[key] {
				return nil, fmt.Errorf("%s: maxima of tensor %q, which no balanced layer reads", r.path, cm.Tensor)
			}
			o := p.obs[key]
			if o == nil {
				p.obs[key] = &ChannelMax{Axis: key.axis, Max: append([]float64(nil), cm.Max...)}
				continue
			}
			if len(o.Max) != len(cm.Max) {
				return nil, fmt.Errorf("%s: tensor %q has %d channels, %s has %d", r.path, cm.Tensor, len(cm.Max), set.shards[0].path, len(o.Max))
			}
			for j, v := range cm.Max {
				o.Max[j] = max(o.Max[j], v)
			}
		}
	}
	if err := p.fixedFactors(); err != nil {
		return nil, err
	}
	return p.result().rec, nil
}

// MergeCalibrate merges the stats files of a sharded calibrate run
// (CalibrateShard) into rec, which must hold the balance factors the
// shards calibrated with: it feeds every batch's observed tensors to the
// calibrators in batch order, 0, 1, 2, …, whatever the order of the files,
// so the calibrators reach the state of a one-process run and rec gets the
// same factors as Calibrate gives it. rec is changed only on success.
func MergeCalibrate(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, id StatsIdentity, paths []string) error {
	set, err := openStatsSet(paths, id)
	if err != nil {
		return err
	}
	defer set.close()
	first := set.shards[0]
	if set.phase != statspb.Phase_CALIBRATE {
		return fmt.Errorf("%s: %s statistics; this merge needs calibrate statistics", first.path, phaseName(set.phase))
	}
	if cfg.BatchNum != set.batches {
		return fmt.Errorf("%s: statistics of %d batches, the config's batch_num is %d", first.path, set.batches, cfg.BatchNum)
	}
	digest, err := balanceDigest(rec)
	if err != nil {
		return err
	}
	if !bytes.Equal(digest, first.h.BalanceSha256) {
		return fmt.Errorf("%s: calibrated with other balance factors than the record's: merge into the record the shards read", first.path)
	}
	c, err := newCalibration(m, layers, cfg, rec)
	if err != nil {
		return err
	}
	var observe []string
	if c != nil {
		observe = c.observe
	}
	if !slices.Equal(first.h.Tensors, observe) {
		return fmt.Errorf("%s: observed tensors %q, the config calibrates %q", first.path, first.h.Tensors, observe)
	}
	n := len(set.shards)
	out := make(map[string]*onnx.Tensor, len(observe)) // every batch sets every name
	for i := range set.batches {
		r := set.shards[i%n]
		for ti, name := range observe {
			t, err := r.values(i, ti)
			if err != nil {
				return err
			}
			out[name] = t
		}
		if c != nil {
			if err := c.add(out); err != nil {
				return fmt.Errorf("%s: batch %d: %w", r.path, i, err)
			}
		}
	}
	for k, r := range set.shards {
		if _, err := r.footer(Shard{k, n}.Batches(set.batches)); err != nil {
			return err
		}
	}
	if c == nil {
		return nil
	}
	work := Record{}
	for name, r := range rec {
		cp := *r
		work[name] = &cp
	}
	if _, err := activationFactors(c.jobs, c.cals, c.weightScales, work); err != nil {
		return err
	}
	for name, r := range work {
		rec[name] = r
	}
	return nil
}
