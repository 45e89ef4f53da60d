package quant

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"

	"amq/quant/statspb"
)

// shardRun is a small sharded run on calibModel: 6 batches in 3 shards,
// the preprocess and calibrate stats files, and the merged balance record.
type shardRun struct {
	dir      string
	model    *Prepared
	id       StatsIdentity
	pre, cal []string // by shard index
	rec      Record   // balance factors
}

func newShardRun(t *testing.T) *shardRun {
	t.Helper()
	m, layers := calibModel()
	cfg := calibConfig(layers, 6)
	data := calibData(3, 6)
	ms, cs := sha256.Sum256([]byte("model")), sha256.Sum256([]byte("config"))
	r := &shardRun{dir: t.TempDir(), model: &Prepared{Model: m, Layers: layers, Config: cfg},
		id: StatsIdentity{Version: "test", ModelSHA256: ms[:], ConfigSHA256: cs[:], BatchSize: 2}}
	for k := range 3 {
		path := filepath.Join(r.dir, fmt.Sprintf("pre%d.stats", k))
		if err := PreprocessShard(m, layers, cfg, testSim, data, DMQOptions{}, Shard{k, 3}, r.id, path); err != nil {
			t.Fatal(err)
		}
		r.pre = append(r.pre, path)
	}
	var err error
	if r.rec, err = MergePreprocess(m, layers, cfg, r.id, r.pre); err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		path := filepath.Join(r.dir, fmt.Sprintf("cal%d.stats", k))
		if err := CalibrateShard(m, layers, cfg, r.rec, testSim, data, Shard{k, 3}, r.id, path); err != nil {
			t.Fatal(err)
		}
		r.cal = append(r.cal, path)
	}
	return r
}

// mergeCal merges paths into a copy of the balance record and checks that
// a failed merge left the record alone.
func (r *shardRun) mergeCal(t *testing.T, id StatsIdentity, rec Record, paths ...string) error {
	t.Helper()
	before := mustMarshalRecord(t, rec)
	err := MergeCalibrate(r.model.Model, r.model.Layers, r.model.Config, rec, id, paths)
	if err != nil && string(mustMarshalRecord(t, rec)) != string(before) {
		t.Errorf("a failed merge changed the record")
	}
	return err
}

// rewriteHeader writes a copy of the stats file src with its header
// changed by edit.
func rewriteHeader(t *testing.T, src, dst string, edit func(h *statspb.Header)) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	h := &statspb.Header{}
	if err := protodelim.UnmarshalFrom(br, h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := protodelim.MarshalTo(out, h); err != nil {
		t.Fatal(err)
	}
	if _, err := br.WriteTo(out); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: merged, want an error", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not say %q", what, err, p)
		}
	}
}

func TestMergeRefusesStatsThatDoNotBelongTogether(t *testing.T) {
	t.Parallel()
	r := newShardRun(t)
	if err := r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[2], r.cal[0], r.cal[1]); err != nil {
		t.Fatalf("the complete set: %v", err)
	}
	other := r.id
	other.ModelSHA256 = []byte("another model digest")
	wantErr(t, "another model", r.mergeCal(t, other, cloneRecord(r.rec), r.cal...), r.cal[0], "another model")
	other = r.id
	other.ConfigSHA256 = []byte("another config digest")
	wantErr(t, "another config", r.mergeCal(t, other, cloneRecord(r.rec), r.cal...), r.cal[0], "another quant config")
	other = r.id
	other.Version = "v9.9.9"
	wantErr(t, "another amq", r.mergeCal(t, other, cloneRecord(r.rec), r.cal...), r.cal[0], "written by amq test", "v9.9.9")

	newer := filepath.Join(r.dir, "newer.stats")
	rewriteHeader(t, r.cal[1], newer, func(h *statspb.Header) { h.FormatVersion = 2 })
	wantErr(t, "format version", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], newer, r.cal[2]), newer, "format version 2")

	wantErr(t, "another phase", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], r.cal[1], r.pre[2]), r.pre[2], "preprocess statistics", "one phase")
	wantErr(t, "preprocess files to calibrate", r.mergeCal(t, r.id, cloneRecord(r.rec), r.pre...), r.pre[0], "needs calibrate statistics")
	if _, err := MergePreprocess(r.model.Model, r.model.Layers, r.model.Config, r.id, r.cal); err == nil || !strings.Contains(err.Error(), "needs preprocess statistics") {
		t.Errorf("calibrate files to preprocess: %v", err)
	}

	wantErr(t, "missing shard", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], r.cal[2]), "shard 1/3 missing")
	twice := filepath.Join(r.dir, "copy.stats")
	copyFile(t, r.cal[1], twice)
	wantErr(t, "shard twice", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], r.cal[1], twice, r.cal[2]), "shard 1/3 given twice", r.cal[1], twice)
	wantErr(t, "no files", r.mergeCal(t, r.id, cloneRecord(r.rec)), "no stats files")

	// Shards of a run in 2 do not complete a run in 3.
	two := filepath.Join(r.dir, "two.stats")
	rewriteHeader(t, r.cal[1], two, func(h *statspb.Header) { h.Shards = 2 })
	wantErr(t, "another split", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], two, r.cal[2]), two, "is not from the run of")

	// Other balance factors than the shards calibrated with.
	rec := cloneRecord(r.rec)
	for _, lr := range rec {
		if len(lr.BalanceFactor) > 0 {
			lr.BalanceFactor[0] *= 2
			break
		}
	}
	wantErr(t, "other balance", r.mergeCal(t, r.id, rec, r.cal...), "other balance factors")

	notStats := filepath.Join(r.dir, "record.txt")
	os.WriteFile(notStats, []byte("record {\n}\n"), 0o644)
	wantErr(t, "not a stats file", r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], notStats, r.cal[2]), notStats, "not an amq stats file")
}

func TestMergeRefusesTruncatedStats(t *testing.T) {
	t.Parallel()
	r := newShardRun(t)
	for _, files := range [][]string{r.cal, r.pre} {
		data, err := os.ReadFile(files[1])
		if err != nil {
			t.Fatal(err)
		}
		// Cut inside a message, inside the footer, and (calibrate) at
		// the boundary before the footer.
		cuts := []int{len(data) / 2, len(data) - 1}
		if files[0] == r.cal[0] {
			var foot bytes.Buffer
			protodelim.MarshalTo(&foot, &statspb.Footer{Batches: 2})
			cuts = append(cuts, len(data)-foot.Len())
		}
		for _, cut := range cuts {
			short := filepath.Join(r.dir, fmt.Sprintf("short%d.stats", cut))
			os.WriteFile(short, data[:cut], 0o644)
			paths := []string{files[0], short, files[2]}
			var err error
			if files[0] == r.cal[0] {
				err = r.mergeCal(t, r.id, cloneRecord(r.rec), paths...)
			} else {
				_, err = MergePreprocess(r.model.Model, r.model.Layers, r.model.Config, r.id, paths)
			}
			wantErr(t, fmt.Sprintf("%s cut at %d of %d bytes", files[1], cut, len(data)), err, short, "truncated")
		}
	}
}

func TestShardsRefuseWhatCannotBeShardedExactly(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(3, 4)
	id := StatsIdentity{Version: "test"}
	path := filepath.Join(t.TempDir(), "s.stats")
	err := PreprocessShard(m, layers, searchConfig(layers, 4), testSim, data, DMQOptions{}, Shard{0, 2}, id, path)
	if err == nil || !strings.Contains(err.Error(), "α search cannot be sharded") {
		t.Errorf("--alpha auto with --shard: %v", err)
	}
	err = PreprocessShard(m, layers, calibConfig(layers, 4), testSim, data, DMQOptions{}, Shard{4, 5}, id, path)
	if err == nil || !strings.Contains(err.Error(), "shard 4/5 has no batches") {
		t.Errorf("a shard without batches: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused shard left %s", path)
	}
	for _, s := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted it", s)
		}
	}
	if s, err := ParseShard("2/5"); err != nil || s != (Shard{2, 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", s, err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cloneRecord returns a deep enough copy of r for a merge to change.
func cloneRecord(r Record) Record {
	c := Record{}
	for name, lr := range r {
		cp := *lr
		cp.BalanceFactor = append([]float32(nil), lr.BalanceFactor...)
		c[name] = &cp
	}
	return c
}

// TestMergeRefusesAHugeCountInStats: a stats file whose values claim a
// shape of 2⁴⁰ elements (consistent with its zero count, as a corrupt or
// forged file could) is refused naming the file, before any allocation of
// that size.
func TestMergeRefusesAHugeCountInStats(t *testing.T) {
	t.Parallel()
	r := newShardRun(t)
	f, err := os.Open(r.cal[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	h, v := &statspb.Header{}, &statspb.Values{}
	if err := protodelim.UnmarshalFrom(br, h); err != nil {
		t.Fatal(err)
	}
	if err := protodelim.UnmarshalFrom(br, v); err != nil {
		t.Fatal(err)
	}
	v.Shape = []int64{1 << 20, 1 << 20}
	v.Zeros = 1<<40 - uint64(len(v.Data)/4) - v.NegativeZeros
	bad := filepath.Join(r.dir, "huge.stats")
	out, err := os.Create(bad)
	if err != nil {
		t.Fatal(err)
	}
	protodelim.MarshalTo(out, h)
	protodelim.MarshalTo(out, v)
	if _, err := br.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	err = r.mergeCal(t, r.id, cloneRecord(r.rec), r.cal[0], bad, r.cal[2])
	wantErr(t, "a shape of 2⁴⁰ values", err, bad, "more than")
}
