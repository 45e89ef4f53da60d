package dataset

import (
	"archive/zip"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/npy"
	"amq/onnx"
)

// writeNpy writes t to name in a temporary folder and returns its path.
func writeNpy(t *testing.T, name string, tensor *onnx.Tensor) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := npy.WriteFile(p, tensor); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFloat64NpyIsCastOnceWithANote checks NumPy's default dtype on a
// float32 model whose batch dimension is dynamic, without a batch size:
// the values are rounded to float32, the cast and the default batch size
// are said once, and the samples after the last full batch are said too.
func TestFloat64NpyIsCastOnceWithANote(t *testing.T) {
	t.Parallel()
	vals := make([]float64, 70*2)
	for i := range vals {
		vals[i] = 0.1 * float64(i)
	}
	p := writeNpy(t, "x.npy", onnx.NewTensor([]int{70, 2}, vals))
	s, notes := open(t, model(onnx.Float, -1, 2), p, Options{})
	if s.Size != 32 || s.Len() != 2 || s.Dropped() != 6 {
		t.Errorf("batches %d of %d, %d dropped; want 2 of 32, 6 dropped", s.Len(), s.Size, s.Dropped())
	}
	for _, want := range []string{
		`note: ` + p + `: float64 data cast to float32 for input "x"`,
		"batch size 32 (the model's batch dimension is dynamic; --batch-size sets it)",
		"the last 6 samples do not fill a batch of 32",
	} {
		if strings.Count(notes, want) != 1 {
			t.Errorf("notes %q: want %q once", notes, want)
		}
	}
	got := all(t, s, "x").Floats()
	for i, v := range got {
		if v != float32(vals[i]) {
			t.Fatalf("value %d: %v, want float32(%v)", i, v, vals[i])
		}
	}
}

// TestBatchSize checks the batch size: the one given, else the model's
// fixed batch dimension, else 32 or all samples when fewer.
func TestBatchSize(t *testing.T) {
	t.Parallel()
	p := writeNpy(t, "x.npy", onnx.NewTensor([]int{20, 2}, make([]float32, 40)))
	for _, c := range []struct {
		g         *onnx.Graph
		requested int
		want      int
		note      string
	}{
		{model(onnx.Float, -1, 2), 0, 20, "batch size 20: all samples (the model's batch dimension is dynamic; --batch-size sets it)"},
		{model(onnx.Float, -1, 2), 6, 6, "the last 2 samples do not fill a batch of 6"},
		{model(onnx.Float, 4, 2), 0, 4, ""},
	} {
		s, notes := open(t, c.g, p, Options{BatchSize: c.requested})
		if s.Size != c.want || !strings.Contains(notes, c.note) {
			t.Errorf("batch size %d (%q), want %d (%q)", s.Size, notes, c.want, c.note)
		}
	}
	openFails(t, model(onnx.Float, -1, 2), p, Options{BatchSize: 21}, "20 samples, fewer than one batch of 21")
	openFails(t, model(onnx.Float, -1, 2), p, Options{BatchSize: -1}, "--batch-size -1")
}

// TestTokenIDsFeedIntegerInputs checks a .npz of int64 token ids and an
// int32 mask for a model with two int64 inputs: the ids go through as they
// are, the mask is cast to int64 with a note; an id that does not fit an
// int32 input is an error naming file, sample and input.
func TestTokenIDsFeedIntegerInputs(t *testing.T) {
	t.Parallel()
	ids := []int64{101, 2023, 102, 0, 101, 7592, 102, 0}
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.npz")
	writeNpz(t, p, map[string]*onnx.Tensor{
		"ids":  onnx.NewTensor([]int{2, 4}, ids),
		"mask": onnx.NewTensor([]int{2, 4}, []int32{1, 1, 1, 0, 1, 1, 1, 0}),
	})
	g := &onnx.Graph{Inputs: []*onnx.ValueInfo{input("ids", onnx.Int64, -1, 4), input("mask", onnx.Int64, -1, 4)}}
	s, notes := open(t, g, p, Options{BatchSize: 2})
	in, err := s.Batch(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := in["ids"].Int64s(); !slices.Equal(got, ids) {
		t.Errorf("ids %v, want %v", got, ids)
	}
	if got := in["mask"].Int64s(); !slices.Equal(got, []int64{1, 1, 1, 0, 1, 1, 1, 0}) {
		t.Errorf("mask %v", got)
	}
	if !strings.Contains(notes, `int32 data cast to int64 for input "mask"`) || strings.Contains(notes, `"ids"`) {
		t.Errorf("notes %q: want the mask's cast only", notes)
	}

	big := slices.Clone(ids)
	big[6] = math.MaxInt32 + 1
	writeNpz(t, p, map[string]*onnx.Tensor{"ids": onnx.NewTensor([]int{2, 4}, big), "mask": onnx.NewTensor([]int{2, 4}, make([]int32, 8))})
	g.Inputs[0].DType = onnx.Int32
	readFails(t, g, p, Options{BatchSize: 2}, p, "sample 1", "2147483648 does not fit int32", `input "ids"`)
}

// writeNpz writes arrays as an uncompressed .npz (a zip of .npy files, as
// numpy.savez writes it).
func writeNpz(t *testing.T, path string, arrays map[string]*onnx.Tensor) {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, a := range arrays {
		w, err := z.Create(name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.Write(w, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestArraysThatDoNotFitTheModel checks the errors for arrays whose shape,
// type or names do not fit the model's inputs: each names the file and the
// input.
func TestArraysThatDoNotFitTheModel(t *testing.T) {
	t.Parallel()
	g := model(onnx.Float, -1, 1, 8, 8)
	p := writeNpy(t, "x.npy", onnx.NewTensor([]int{4, 1, 8, 9}, make([]float32, 4*72)))
	openFails(t, g, p, Options{}, p, `input "x" of shape [N 1 8 8]`, "dimension 3 is 9, the model's is 8")
	p = writeNpy(t, "x.npy", onnx.NewTensor([]int{1, 8, 8}, make([]float32, 64)))
	openFails(t, g, p, Options{}, p, "rank 3, the input's is 4", "leading axis of 1")
	p = writeNpy(t, "x.npy", onnx.NewTensor([]int{2, 1, 8, 8}, make([]bool, 128)))
	openFails(t, g, p, Options{}, p, `input "x"`, "bool data cannot feed a float32 input")
	huge := make([]float64, 128)
	huge[70] = 1e300
	p = writeNpy(t, "x.npy", onnx.NewTensor([]int{2, 1, 8, 8}, huge))
	readFails(t, g, p, Options{}, p, "sample 1", "1e+300 does not fit float32", `input "x"`)
	frac := make([]float32, 8)
	frac[5] = 2.5
	p = writeNpy(t, "x.npy", onnx.NewTensor([]int{2, 4}, frac))
	readFails(t, model(onnx.Int64, -1, 4), p, Options{}, p, "sample 1", "2.5 is not a whole number", `input "x"`)

	two := &onnx.Graph{Inputs: []*onnx.ValueInfo{input("a", onnx.Float, -1, 2), input("b", onnx.Float, -1, 2)}}
	p = writeNpy(t, "x.npy", onnx.NewTensor([]int{2, 2}, make([]float32, 4)))
	openFails(t, two, p, Options{}, "2 inputs", ".npz")
	z := filepath.Join(t.TempDir(), "x.npz")
	writeNpz(t, z, map[string]*onnx.Tensor{"a": onnx.NewTensor([]int{2, 2}, make([]float32, 4))})
	openFails(t, two, z, Options{}, z, `no array for model input "b"`)
	writeNpz(t, z, map[string]*onnx.Tensor{"a": onnx.NewTensor([]int{2, 2}, make([]float32, 4)), "b": onnx.NewTensor([]int{3, 2}, make([]float32, 6))})
	openFails(t, two, z, Options{}, z, `input "b" has 3 samples, another input 2`)
	openFails(t, model(onnx.Float, -1, 2), p, Options{Image: &ImageOptions{}}, "--image-size", "a .npy file")
	openFails(t, model(onnx.Float, -1, 2), z, Options{Raw: &RawOptions{}}, "--input-shape", "a .npz file")
}
