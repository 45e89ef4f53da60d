package quant

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"amq/quant/statspb"
)

// statsSet is the stats files of one sharded phase, open, checked against
// each other and the merge's identity, indexed by shard.
type statsSet struct {
	shards  []*statsReader // by shard index
	phase   statspb.Phase
	batches int
}

func (s *statsSet) close() {
	for _, r := range s.shards {
		if r != nil {
			r.close()
		}
	}
}

// openStatsSet opens paths and checks that they are the N shards of one
// run of one phase for the model and config of id, each given once.
func openStatsSet(paths []string, id StatsIdentity) (set *statsSet, err error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("merge: no stats files")
	}
	var readers []*statsReader
	defer func() {
		if err != nil {
			for _, r := range readers {
				r.close()
			}
		}
	}()
	for _, p := range paths {
		r, err := openStats(p)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
	}
	first := readers[0]
	for _, r := range readers {
		if err := checkStatsHeader(r, first, id); err != nil {
			return nil, err
		}
	}
	n := int(first.h.Shards)
	set = &statsSet{shards: make([]*statsReader, n), phase: first.h.Phase, batches: int(first.h.Batches)}
	for _, r := range readers {
		k := int(r.h.Shard)
		if k >= n {
			return nil, fmt.Errorf("%s: shard %d/%d is out of range", r.path, k, n)
		}
		if o := set.shards[k]; o != nil {
			return nil, fmt.Errorf("shard %d/%d given twice: %s and %s", k, n, o.path, r.path)
		}
		set.shards[k] = r
	}
	var missing []string
	for k, r := range set.shards {
		if r == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", k, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: shard %s missing (the files given: %s)", strings.Join(missing, ", "), strings.Join(paths, ", "))
	}
	return set, nil
}

// checkStatsHeader checks r's header against the first file's and id.
func checkStatsHeader(r, first *statsReader, id StatsIdentity) error {
	h, f := r.h, first.h
	switch {
	case h.AmqVersion != id.Version:
		return fmt.Errorf("%s: written by amq %s; this is amq %s: merge with the amq that ran the shards", r.path, h.AmqVersion, id.Version)
	case !bytes.Equal(h.ModelSha256, id.ModelSHA256):
		return fmt.Errorf("%s: statistics of another model (SHA-256 %x, the model given has %x)", r.path, h.ModelSha256, id.ModelSHA256)
	case !bytes.Equal(h.ConfigSha256, id.ConfigSHA256):
		return fmt.Errorf("%s: statistics made with another quant config (SHA-256 %x, the config given has %x)", r.path, h.ConfigSha256, id.ConfigSHA256)
	case h.Phase != f.Phase:
		return fmt.Errorf("%s: %s statistics, but %s holds %s statistics: merge one phase at a time", r.path, phaseName(h.Phase), first.path, phaseName(f.Phase))
	case h.Shards != f.Shards || h.Batches != f.Batches || h.BatchSize != f.BatchSize || h.Joint != f.Joint ||
		!bytes.Equal(h.BalanceSha256, f.BalanceSha256) || !slices.Equal(h.Tensors, f.Tensors):
		return fmt.Errorf("%s: shard %d/%d of %d batches of %d (joint %v) is not from the run of %s, shard %d/%d of %d batches of %d (joint %v)",
			r.path, h.Shard, h.Shards, h.Batches, h.BatchSize, h.Joint, first.path, f.Shard, f.Shards, f.Batches, f.BatchSize, f.Joint)
	case h.Shards == 0 || h.Batches < h.Shards:
		return fmt.Errorf("%s: %d shards for %d batches", r.path, h.Shards, h.Batches)
	}
	return nil
}

// phaseName is the command that writes a phase's statistics.
func phaseName(p statspb.Phase) string {
	switch p {
	case statspb.Phase_PREPROCESS:
		return "preprocess"
	case statspb.Phase_CALIBRATE:
		return "calibrate"
	}
	return fmt.Sprintf("unknown phase %d", p)
}

// StatsPhase returns the phase ("preprocess" or "calibrate") of the stats
// file path, for a merge to choose between MergePreprocess and
// MergeCalibrate.
func StatsPhase(path string) (string, error) {
	r, err := openStats(path)
	if err != nil {
		return "", err
	}
	defer r.close()
	if r.h.Phase != statspb.Phase_PREPROCESS && r.h.Phase != statspb.Phase_CALIBRATE {
		return "", fmt.Errorf("%s: %s", path, phaseName(r.h.Phase))
	}
	return phaseName(r.h.Phase), nil
}
