package quant

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"amq/npy"
	"amq/onnx"
)

// shardFixture is a quantization fixture prepared for sharding tests: 8
// batches of 8 of its calibration samples, batch_num 8.
type shardFixture struct {
	name string
	prep *Prepared
	data DataSource
	id   StatsIdentity
}

const shardBatches = 8

func loadShardFixture(t *testing.T, fixture, model, cfgFile string) *shardFixture {
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
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calib, err := npy.ReadFile(filepath.Join(dir, "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: calib}, calib.Shape[0]/shardBatches)
	if err != nil {
		t.Fatal(err)
	}
	if data.Len() != shardBatches {
		t.Fatalf("%d batches, want %d", data.Len(), shardBatches)
	}
	name := fixture + "/" + cfgFile
	ms, cs := sha256.Sum256([]byte("model "+name)), sha256.Sum256([]byte("config "+name))
	return &shardFixture{name: name, prep: p, data: data,
		id: StatsIdentity{Version: "test", ModelSHA256: ms[:], ConfigSHA256: cs[:], BatchSize: calib.Shape[0] / shardBatches}}
}

// oneProcess returns the records of a one-process preprocess and of the
// calibration after it, marshaled.
func (f *shardFixture) oneProcess(t *testing.T) (pre, cal []byte) {
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
func (f *shardFixture) calibrateShards(t *testing.T, dir string, n int, rec Record, rng *rand.Rand) []string {
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

func mustMarshalRecord(t *testing.T, rec Record) []byte {
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
