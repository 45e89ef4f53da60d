package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"amq/backend"
	"amq/npy"
	"amq/onnx"
	"amq/quant"
)

func init() { subcommands = append(subcommands, newPreprocessCmd) }

// calibFlags are the settings preprocess and calibrate share.
type calibFlags struct {
	model, config, record, data string
	batchSize                   int
	backend                     backendFlags
}

func (f *calibFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "ONNX model (the original, unbalanced; required)")
	fl.StringVar(&f.config, "config", "", "JSON quant config from amq create-config (required)")
	fl.StringVar(&f.record, "record", "", "record file (required)")
	fl.StringVar(&f.data, "data", "", "calibration samples: a .npy for a single-input model, or a .npz with one array per input, samples on axis 0 (required)")
	fl.IntVar(&f.batchSize, "batch-size", 0, "samples per batch (default: the model's fixed batch dimension)")
	f.backend.add(fl, "sim")
	for _, r := range []string{"model", "config", "record", "data"} {
		cmd.MarkFlagRequired(r)
	}
}

// calibSetup is what both commands load before running batches.
type calibSetup struct {
	model   *onnx.Model
	layers  []*quant.Layer
	cfg     *quant.Config
	backend backend.Backend
	data    *batches
}

func (f *calibFlags) load(w io.Writer) (*calibSetup, error) {
	b, err := f.backend.open()
	if err != nil {
		return nil, err
	}
	m, err := onnx.LoadFile(f.model)
	if err != nil {
		return nil, err
	}
	cfg, err := quant.ReadConfig(f.config)
	if err != nil {
		return nil, err
	}
	// The same Conv+BN fusion as amq quantize, so that the factors fit the
	// weights amq save quantizes.
	fused, err := quant.FuseConvBN(m, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.model, err)
	}
	printFused(w, fused)
	layers, _, err := quant.FindLayers(m, quant.FindOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.model, err)
	}
	for name := range cfg.Layers {
		if !hasLayer(layers, name) && cfg.Layers[name].QuantEnable {
			return nil, fmt.Errorf("%s: layer %q is not a quantizable layer of %s", f.config, name, f.model)
		}
	}
	data, err := loadBatches(m.Graph, f.data, f.batchSize)
	if err != nil {
		return nil, err
	}
	if data.dropped > 0 {
		fmt.Fprintf(w, "note: %s: the last %d samples do not fill a batch of %d and are not used\n", f.data, data.dropped, data.size)
	}
	return &calibSetup{model: m, layers: layers, cfg: cfg, backend: b, data: data}, nil
}

func hasLayer(ls []*quant.Layer, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
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
each layer has its own factors, as in AMCT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			data := withProgress(s.data, cmd.ErrOrStderr(), "preprocess", s.data.Len())
			rec, err := quant.PreprocessWith(s.model, s.layers, s.cfg, s.backend, data, quant.DMQOptions{Joint: joint})
			if err != nil {
				return fmt.Errorf("%s: %w", f.model, err)
			}
			if err := quant.WriteRecord(f.record, rec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "balance factors for %d layers from %d batches of %d samples\nwrote %s\n",
				len(rec), s.data.Len(), s.data.size, f.record)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&joint, "joint", false, "one set of factors for all layers reading the same tensor")
	return cmd
}

// batches is a quant.DataSource over samples loaded from .npy/.npz, cut
// into batches along axis 0 without copying.
type batches struct {
	arrays  map[string]*onnx.Tensor // graph input -> all samples
	size    int                     // samples per batch
	n       int                     // number of full batches
	dropped int                     // samples left over
}

func loadBatches(g *onnx.Graph, path string, size int) (*batches, error) {
	if size < 0 {
		return nil, fmt.Errorf("--batch-size %d: must be at least 1", size)
	}
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("the model has no inputs")
	}
	arrays := map[string]*onnx.Tensor{}
	if strings.EqualFold(filepath.Ext(path), ".npz") {
		all, err := npy.ReadNPZFile(path)
		if err != nil {
			return nil, err
		}
		for _, in := range g.Inputs {
			t, ok := all[in.Name]
			if !ok {
				return nil, fmt.Errorf("%s has no array for model input %q", path, in.Name)
			}
			arrays[in.Name] = t
		}
	} else {
		if len(g.Inputs) != 1 {
			return nil, fmt.Errorf("the model has %d inputs: give --data as a .npz with one array per input", len(g.Inputs))
		}
		t, err := npy.ReadFile(path)
		if err != nil {
			return nil, err
		}
		arrays[g.Inputs[0].Name] = t
	}
	samples := -1
	for _, in := range g.Inputs {
		t := arrays[in.Name]
		if t.Rank() == 0 {
			return nil, fmt.Errorf("%s: array for input %q is a scalar; samples must be on axis 0", path, in.Name)
		}
		if samples >= 0 && t.Shape[0] != samples {
			return nil, fmt.Errorf("%s: input %q has %d samples, another input %d", path, in.Name, t.Shape[0], samples)
		}
		samples = t.Shape[0]
		if size == 0 && len(in.Shape) > 0 && in.Shape[0].Known() {
			size = int(in.Shape[0].Value)
		}
	}
	if size <= 0 {
		return nil, fmt.Errorf("the model's batch dimension is not fixed: give --batch-size")
	}
	if samples < size {
		return nil, fmt.Errorf("%s: %d samples, fewer than one batch of %d", path, samples, size)
	}
	return &batches{arrays: arrays, size: size, n: samples / size, dropped: samples % size}, nil
}

// Len is the number of full batches.
func (b *batches) Len() int { return b.n }

// Batch returns samples [i*size, (i+1)*size) of every input.
func (b *batches) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i < 0 || i >= b.n {
		return nil, fmt.Errorf("batch %d out of range [0, %d)", i, b.n)
	}
	out := make(map[string]*onnx.Tensor, len(b.arrays))
	for name, t := range b.arrays {
		per := onnx.NumElems(t.Shape[1:]) * b.size
		shape := append([]int{b.size}, t.Shape[1:]...)
		var err error
		if out[name], err = sliceTensor(t, shape, i*per, (i+1)*per); err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		out[name].Name = name
	}
	return out, nil
}

// sliceTensor returns elements [lo, hi) of t as a tensor of shape, sharing
// t's storage.
func sliceTensor(t *onnx.Tensor, shape []int, lo, hi int) (*onnx.Tensor, error) {
	switch d := t.Data.(type) {
	case []float32:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []float64:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []int64:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []int32:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []int8:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []uint8:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	case []bool:
		return onnx.NewTensor(shape, d[lo:hi:hi]), nil
	}
	return nil, fmt.Errorf("samples of type %v are not supported", t.DType)
}

// progressData reports on w each batch the quant step asks for.
type progressData struct {
	quant.DataSource
	bar *progressbar.ProgressBar
}

func withProgress(d quant.DataSource, w io.Writer, what string, total int) quant.DataSource {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &progressData{DataSource: d, bar: bar}
}

func (p *progressData) Batch(i int) (map[string]*onnx.Tensor, error) {
	b, err := p.DataSource.Batch(i)
	if err == nil {
		p.bar.Add(1)
	}
	return b, err
}
