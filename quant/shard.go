package quant

import (
	"fmt"
	"strconv"
	"strings"

	"amq/backend"
	"amq/onnx"
	"amq/quant/statspb"
)

// Shard is one of Count processes that share a phase's batches: it runs
// batches Index, Index+Count, Index+2·Count, … and writes their statistics
// to a stats file, which MergePreprocess or MergeCalibrate combines with
// the other shards' (docs/design.md "Sharded statistics").
type Shard struct {
	Index, Count int
}

// ParseShard parses "K/N" with 0 <= K < N, as --shard takes it.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	if ok {
		ki, err1 := strconv.Atoi(strings.TrimSpace(k))
		ni, err2 := strconv.Atoi(strings.TrimSpace(n))
		if err1 == nil && err2 == nil && ni >= 1 && ki >= 0 && ki < ni {
			return Shard{ki, ni}, nil
		}
	}
	return Shard{}, fmt.Errorf("shard %q: want K/N with 0 <= K < N (K counts from 0)", s)
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Batches is the number of the first total batches that s runs.
func (s Shard) Batches(total int) int {
	if total <= s.Index {
		return 0
	}
	return (total-s.Index-1)/s.Count + 1
}

// shardSource is the shard's batches of the first total batches of a
// data source: its batch i is the source's batch Index + i·Count.
type shardSource struct {
	src   DataSource
	shard Shard
	total int
}

func (s shardSource) Len() int { return s.shard.Batches(s.total) }

func (s shardSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	return s.src.Batch(s.global(i))
}

// global is the index in the whole phase of the shard's batch i.
func (s shardSource) global(i int) int { return s.shard.Index + i*s.shard.Count }

// newShardSource checks that the shard has batches among the first total.
func newShardSource(data DataSource, shard Shard, total int) (shardSource, error) {
	if shard.Count < 1 || shard.Index < 0 || shard.Index >= shard.Count {
		return shardSource{}, fmt.Errorf("shard %s: want 0 <= K < N", shard)
	}
	s := shardSource{data, shard, total}
	if s.Len() == 0 {
		return s, fmt.Errorf("shard %s has no batches: the phase has %d; use at most %d shards", shard, total, total)
	}
	return s, nil
}

// PreprocessShard runs shard's batches of data through b, as
// PreprocessWith runs all of them, and writes the per-channel maxima of
// every balanced layer's activation to the stats file path (atomically).
// The layers' factors come from MergePreprocess over all the shards' files.
//
// The α search (amq_alpha_search) is refused: its reservoir of rows is a
// sample drawn in data order, which shards cannot reproduce exactly.
func PreprocessShard(m *onnx.Model, layers []*Layer, cfg *Config, b backend.Backend, data DataSource, opt DMQOptions, shard Shard, id StatsIdentity, path string) error {
	p, err := newBalancePlan(m, layers, cfg, opt)
	if err != nil {
		return err
	}
	if err := refuseAlphaSearch(p); err != nil {
		return err
	}
	if data == nil {
		return fmt.Errorf("preprocess: no calibration batches")
	}
	src, err := newShardSource(data, shard, data.Len())
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	if err := p.observeBatches(b, src); err != nil {
		return err
	}
	h := id.header(statspb.Phase_PREPROCESS, shard, data.Len())
	h.Joint = opt.Joint
	w, err := createStats(path, h)
	if err != nil {
		return err
	}
	defer w.abort()
	foot := &statspb.Footer{Batches: uint32(src.Len())}
	for _, k := range p.obsKeys() {
		foot.Maxima = append(foot.Maxima, &statspb.ChannelMax{Tensor: k.tensor, Axis: int32(k.axis), Max: p.obs[k].Max})
	}
	return w.commit(foot)
}

// refuseAlphaSearch fails when the plan has layers for the α search.
func refuseAlphaSearch(p *balancePlan) error {
	if len(p.units) == 0 {
		return nil
	}
	return fmt.Errorf("layer %q has %s (--alpha auto): the α search cannot be sharded, since its reservoir samples rows in data order; run preprocess in one process, then shard calibrate", p.units[0].layers[0].layer.Name, alphaSearchKey)
}

// obsKeys returns the plan's observed activations in a stable order.
func (p *balancePlan) obsKeys() []obsKey {
	keys := make([]obsKey, 0, len(p.obs))
	for k := range p.obs {
		keys = append(keys, k)
	}
	sortObsKeys(keys)
	return keys
}

// CalibrateShard runs shard's batches of the first cfg.BatchNum batches of
// data through b, as Calibrate runs all of them, and writes every tensor
// the calibrators observe, batch by batch, to the stats file path
// (atomically). rec is not changed: MergeCalibrate derives the factors
// from all the shards' files.
func CalibrateShard(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, b backend.Backend, data DataSource, shard Shard, id StatsIdentity, path string) error {
	if err := checkCalibrateArgs(cfg, rec, data); err != nil {
		return err
	}
	src, err := newShardSource(data, shard, cfg.BatchNum)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	c, err := newCalibration(m, layers, cfg, rec)
	if err != nil {
		return err
	}
	h := id.header(statspb.Phase_CALIBRATE, shard, cfg.BatchNum)
	if h.BalanceSha256, err = balanceDigest(rec); err != nil {
		return err
	}
	if c != nil {
		h.Tensors = c.observe
	}
	w, err := createStats(path, h)
	if err != nil {
		return err
	}
	defer w.abort()
	if c != nil {
		err = runWholeBatches(b, c.model, c.observe, src, src.Len(), func(i int, out map[string]*onnx.Tensor) error {
			return w.writeBatch(src.global(i), c.observe, out)
		})
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
	}
	return w.commit(&statspb.Footer{Batches: uint32(src.Len())})
}

// runWholeBatches is runBatches for fn, which takes each batch's observed
// tensors together: a runner's result as it is, or, from a runner that
// streams them (backend.Observer), copies collected by wholeBatches.
func runWholeBatches(b backend.Backend, m *onnx.Model, observe []string, data DataSource, n int, fn func(i int, out map[string]*onnx.Tensor) error) error {
	return runBatchesTo(b, m, observe, data, n, wholeBatches(observe, fn), fn)
}

// wholeBatches turns a stream of observed tensors into whole batches: fn
// gets batch i's tensors by name once every one of names has come. The
// tensors are copied, as a stream's may be valid only during its call
// (backend.Observer).
func wholeBatches(names []string, fn func(i int, out map[string]*onnx.Tensor) error) tensorSink {
	out := make(map[string]*onnx.Tensor, len(names))
	return func(i int, name string, t *onnx.Tensor) error {
		out[name] = t.Clone()
		if len(out) < len(names) {
			return nil
		}
		err := fn(i, out)
		clear(out)
		return err
	}
}
