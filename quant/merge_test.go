package quant

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"amq/npy"
	"amq/onnx"
)

// shardFixture is a quantization fixture prepared for sharding tests: 8
// batches of 2 of its calibration samples, batch_num 8 (few samples, so
// that 6 runs of every fixture take seconds; the tensors still take more
// than ExactLimit values, but for the input layers, so both the
// histograms and the exact counts are merged).
type shardFixture struct {
	name string
	prep *Prepared
	data DataSource
	id   StatsIdentity
}

const (
	shardBatches   = 8
	shardBatchSize = 2
)

func loadShardFixture(t testing.TB, fixture, model, cfgFile string) *shardFixture {
	t.Helper()
	dir := filepath.Join(quantFixtures, fixture)
	m, err := onnx.LoadFile(filepath.Join(dir, model))
	if err != nil {
		t.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, cfgFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := CreateQuantConfig(m, simple, nil, shardBatches)
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range cfg.Layers {
		if lc.Act.Algo == "hfmg" {
			// HFMG's search grows with the square of its bins; the
			// merge of its histograms does not depend on their number.
			lc.Act.NumOfBins = 1024
		}
	}
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calib, err := npy.ReadFile(filepath.Join(dir, "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if calib, err = calib.Rows(0, shardBatches*shardBatchSize); err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: calib}, shardBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	if data.Len() != shardBatches {
		t.Fatalf("%d batches, want %d", data.Len(), shardBatches)
	}
	name := fixture + "/" + cfgFile
	ms, cs := sha256.Sum256([]byte("model "+name)), sha256.Sum256([]byte("config "+name))
	return &shardFixture{name: name, prep: p, data: data,
		id: StatsIdentity{Version: "test", ModelSHA256: ms[:], ConfigSHA256: cs[:], BatchSize: shardBatchSize}}
}

// oneProcess returns the records of a one-process preprocess and of the
// calibration after it, marshaled.
func (f *shardFixture) oneProcess(t testing.TB) (pre, cal []byte) {
	t.Helper()
	p := f.prep
	rec, err := PreprocessWith(p.Model, p.Layers, p.Config, testSim, f.data, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pre = mustMarshalRecord(t, rec)
	if err := Calibrate(p.Model, p.Layers, p.Config, rec, testSim, f.data); err != nil {
		t.Fatal(err)
	}
	return pre, mustMarshalRecord(t, rec)
}

// preprocessShards writes the stats files of n preprocess shards into dir
// and returns their paths, shuffled by rng.
func (f *shardFixture) preprocessShards(t *testing.T, dir string, n int, rng *rand.Rand) []string {
	t.Helper()
	p := f.prep
	var paths []string
	for k := range n {
		path := filepath.Join(dir, fmt.Sprintf("pre-%d-of-%d.stats", k, n))
		if err := PreprocessShard(p.Model, p.Layers, p.Config, testSim, f.data, DMQOptions{}, Shard{k, n}, f.id, path); err != nil {
			t.Fatalf("shard %d/%d: %v", k, n, err)
		}
		paths = append(paths, path)
	}
	rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths
}

// calibrateShards is preprocessShards for calibrate, with the balance of rec.
func (f *shardFixture) calibrateShards(t testing.TB, dir string, n int, rec Record, rng *rand.Rand) []string {
	t.Helper()
	p := f.prep
	var paths []string
	for k := range n {
		path := filepath.Join(dir, fmt.Sprintf("cal-%d-of-%d.stats", k, n))
		if err := CalibrateShard(p.Model, p.Layers, p.Config, rec, testSim, f.data, Shard{k, n}, f.id, path); err != nil {
			t.Fatalf("shard %d/%d: %v", k, n, err)
		}
		paths = append(paths, path)
	}
	rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths
}

func mustMarshalRecord(t testing.TB, rec Record) []byte {
	t.Helper()
	b, err := MarshalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shardFixtures lists every quantization fixture with the IFMR and the
// HFMG config (both with DMQ).
var shardFixtures = []struct{ fixture, model string }{
	{"cnn", "model_op13.onnx"},
	{"transformer", "model_op13.onnx"},
	{"deconv", "model_op13.onnx"},
	{"conv3d", "model_op13.onnx"},
	{"decoder", "model_op17.onnx"},
}

func TestShardedRunsMergeToTheOneProcessRecord(t *testing.T) {
	for _, fx := range shardFixtures {
		for _, cfgFile := range []string{"dmq.cfg", "hfmg.cfg"} {
			t.Run(fx.fixture+"/"+cfgFile, func(t *testing.T) {
				t.Parallel()
				f := loadShardFixture(t, fx.fixture, fx.model, cfgFile)
				wantPre, wantCal := f.oneProcess(t)
				rng := rand.New(rand.NewPCG(uint64(len(f.name)), 13))
				for n := 1; n <= 5; n++ {
					dir := t.TempDir()
					rec, err := MergePreprocess(f.prep.Model, f.prep.Layers, f.prep.Config, f.id, f.preprocessShards(t, dir, n, rng))
					if err != nil {
						t.Fatalf("N=%d: merge preprocess: %v", n, err)
					}
					if got := mustMarshalRecord(t, rec); !bytes.Equal(got, wantPre) {
						t.Fatalf("N=%d: merged preprocess record differs from one process:\n%s\nwant\n%s", n, got, wantPre)
					}
					paths := f.calibrateShards(t, dir, n, rec, rng)
					if err := MergeCalibrate(f.prep.Model, f.prep.Layers, f.prep.Config, rec, f.id, paths); err != nil {
						t.Fatalf("N=%d: merge calibrate: %v", n, err)
					}
					if got := mustMarshalRecord(t, rec); !bytes.Equal(got, wantCal) {
						t.Fatalf("N=%d (files %v): merged record differs from one process:\n%s\nwant\n%s", n, paths, got, wantCal)
					}
				}
			})
		}
	}
}

// TestCalibratorsIgnoreWhereZerosAre checks what stats files rely on: a
// batch with its zeros (+0 and -0) moved to the end leaves every
// calibrator in the state the batch as it came leaves it.
func TestCalibratorsIgnoreWhereZerosAre(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	negZero := float32(math.Copysign(0, -1))
	var batches, moved [][]float32
	for b := range 3 {
		x := make([]float32, 5000)
		var nz []float32
		zeros, neg := 0, 0
		for i := range x {
			switch rng.IntN(4) {
			case 0:
				x[i], zeros = 0, zeros+1
			case 1:
				x[i], neg = negZero, neg+1
			default:
				x[i] = float32(rng.NormFloat64() * float64(b+1))
				nz = append(nz, x[i])
			}
		}
		m := append(nz, make([]float32, zeros)...)
		for range neg {
			m = append(m, negZero)
		}
		batches, moved = append(batches, x), append(moved, m)
	}
	for _, a := range actAlgorithms {
		for _, limit := range []int{ExactLimit, 1 << 20} {
			c1, c2 := a.calibrator(2048), a.calibrator(2048)
			setExactLimit(c1, limit)
			setExactLimit(c2, limit)
			for i := range batches {
				if err := c1.Observe(onnx.NewTensor([]int{len(batches[i])}, batches[i])); err != nil {
					t.Fatal(err)
				}
				if err := c2.Observe(onnx.NewTensor([]int{len(moved[i])}, moved[i])); err != nil {
					t.Fatal(err)
				}
			}
			// The exact counts keep values in the order they first came;
			// what they give, sorted, must not change.
			if !reflect.DeepEqual(calibratorState(c1), calibratorState(c2)) {
				t.Errorf("%s (exact limit %d): moving the zeros changed the calibrator's state", a.name, limit)
			}
		}
	}
}

// calibratorState is what an IFMR or HFMG calibrator's factors depend on:
// its histogram and its exact counts in ascending order.
func calibratorState(c ActCalibrator) []any {
	switch c := c.(type) {
	case ifmrCalibrator:
		v, ok := c.exact.values()
		return []any{*c.Histogram, v, ok}
	case hfmgCalibrator:
		v, ok := c.exact.values()
		return []any{*c.HFMGHistogram, v, ok}
	}
	panic("unknown calibrator")
}

// setExactLimit sets the exact-count limit of an IFMR or HFMG calibrator.
func setExactLimit(c ActCalibrator, limit int) {
	switch c := c.(type) {
	case ifmrCalibrator:
		c.exact.limit = limit
	case hfmgCalibrator:
		c.exact.limit = limit
	}
}

// reversed serves a data source's batches last first.
type reversed struct{ DataSource }

func (r reversed) Batch(i int) (map[string]*onnx.Tensor, error) {
	return r.DataSource.Batch(r.Len() - 1 - i)
}

// TestCalibrationDependsOnBatchOrder is the reason merges replay batches
// in order: the same batches in another order can give another record
// (HFMG splits old bins in proportion as its range grows; IFMR's grid
// depends on the first batch), so a merge of the shards' own calibrator
// states could not promise the one-process record. Of the fixtures'
// shard tests, the decoder with HFMG shows it.
func TestCalibrationDependsOnBatchOrder(t *testing.T) {
	t.Parallel()
	f := loadShardFixture(t, "decoder", "model_op17.onnx", "hfmg.cfg")
	_, want := f.oneProcess(t)
	f.data = reversed{f.data}
	_, got := f.oneProcess(t)
	if bytes.Equal(got, want) {
		t.Fatal("the record of the batches in reverse order equals the record in order")
	}
}

// TestShardedJointPreprocessKeepsJoint checks that --joint travels in the
// stats files: the merge gives the joint factors of one process.
func TestShardedJointPreprocessKeepsJoint(t *testing.T) {
	t.Parallel()
	f := loadShardFixture(t, "transformer", "model_op13.onnx", "dmq.cfg")
	p := f.prep
	joint := DMQOptions{Joint: true}
	rec, err := PreprocessWith(p.Model, p.Layers, p.Config, testSim, f.data, joint)
	if err != nil {
		t.Fatal(err)
	}
	want := mustMarshalRecord(t, rec)
	perLayer, err := PreprocessWith(p.Model, p.Layers, p.Config, testSim, f.data, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(mustMarshalRecord(t, perLayer), want) {
		t.Fatal("joint and per-layer factors are equal on this fixture; the test checks nothing")
	}
	dir := t.TempDir()
	var paths []string
	for k := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("%d.stats", k))
		if err := PreprocessShard(p.Model, p.Layers, p.Config, testSim, f.data, joint, Shard{k, 3}, f.id, path); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	got, err := MergePreprocess(p.Model, p.Layers, p.Config, f.id, paths)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshalRecord(t, got), want) {
		t.Fatal("merged joint factors differ from one process's")
	}
}

// BenchmarkMergeCalibrate merges the calibration stats of two shards of
// the transformer fixture (8 batches; more observed tensors than a map
// holds without a table of its own).
func BenchmarkMergeCalibrate(b *testing.B) {
	f := loadShardFixture(b, "transformer", "model_op13.onnx", "dmq.cfg")
	rec, err := PreprocessWith(f.prep.Model, f.prep.Layers, f.prep.Config, testSim, f.data, DMQOptions{})
	if err != nil {
		b.Fatal(err)
	}
	paths := f.calibrateShards(b, b.TempDir(), 2, rec, rand.New(rand.NewPCG(1, 2)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := MergeCalibrate(f.prep.Model, f.prep.Layers, f.prep.Config, cloneRecord(rec), f.id, paths); err != nil {
			b.Fatal(err)
		}
	}
}
