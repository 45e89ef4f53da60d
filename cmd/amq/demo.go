package main

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"amq/backend"
	"amq/npy"
	"amq/onnx"
	"amq/quant"
	"amq/report"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// demoFiles is the transformer fixture of testdata/quant: a small pre-LN
// transformer trained on scikit-learn's digits with LLM-style outlier
// channels after its LayerNorms, its calibration batch and a held-out set.
//
//go:embed demo/model_op17.onnx demo/calib.npy demo/test.npy demo/test_labels.npy
var demoFiles embed.FS

// The two configs the demo compares: AMCT's defaults (IFMR activations,
// ARQ weights), with and without the DMQ balance.
const (
	demoDMQ = `batch_num : 1
common_config : {
    ifmr_quantize : {}
    dmq_balancer : { migration_strength : 0.5 }
}`
	demoPlain = `batch_num : 1
common_config : { ifmr_quantize : {} }`
)

func newDemoCmd() *cobra.Command {
	var out string
	var threads int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Quantize a built-in transformer with and without DMQ balance and compare (no files or network needed)",
		Long: `Demo quantizes a small built-in transformer whose LayerNorm outputs carry
a few outlier channels, the case DMQ balance exists for. It runs the whole
flow twice on the sim backend, with the DMQ balance (migration strength 0.5)
and without, writes both results with their reports and plots into --out
(see amq report), and compares FP32, int8 with
DMQ and int8 without balance on 600 held-out digits: accuracy, and SQNR of
the model output against FP32 (the deploy models run on sim, as an Ascend
NPU would run them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runDemo(cmd.OutOrStdout(), progressOf(cmd), out, threads)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join("results", "demo"), "folder for the quantized models, configs and records")
	cmd.Flags().IntVar(&threads, "threads", 0, "CPU threads to use (0: all cores)")
	return cmd
}

func demoTensor(name string) (*onnx.Tensor, error) {
	b, err := demoFiles.ReadFile("demo/" + name)
	if err != nil {
		return nil, err
	}
	t, err := npy.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	return t, nil
}

// demoResult is one row of the demo's held-out comparison.
type demoResult struct {
	Model    string
	Accuracy float64 // percent
	SQNR     float64 // dB of the output against FP32; NaN for FP32
}

// demoData is the demo's embedded model and data.
type demoData struct {
	model  *onnx.Model
	calib  *quant.TensorSource // one batch of every calibration sample
	test   map[string]*onnx.Tensor
	labels []int64
}

// loadDemo reads the model and data embedded in the binary.
func loadDemo() (*demoData, error) {
	mb, err := demoFiles.ReadFile("demo/model_op17.onnx")
	if err != nil {
		return nil, err
	}
	m, err := onnx.Load(mb)
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	calib, err := demoTensor("calib.npy")
	if err != nil {
		return nil, err
	}
	test, err := demoTensor("test.npy")
	if err != nil {
		return nil, err
	}
	lt, err := demoTensor("test_labels.npy")
	if err != nil {
		return nil, err
	}
	labels, err := onnx.Data[int64](lt)
	if err != nil {
		return nil, fmt.Errorf("embedded test_labels.npy: %w", err)
	}
	input := m.Graph.Inputs[0].Name
	src, err := quant.NewTensorSource(map[string]*onnx.Tensor{input: calib}, calib.Shape[0])
	if err != nil {
		return nil, fmt.Errorf("embedded calib.npy: %w", err)
	}
	return &demoData{model: m, calib: src, test: map[string]*onnx.Tensor{input: test}, labels: labels}, nil
}

// demoRun is one quantization of the demo.
type demoRun struct {
	title, name, cfg string
	rep              *quant.QuantizeReport
	reportFiles      []string // the report's files, as written
}

// runDemo runs the demo, printing to w and reporting progress on prog,
// and returns the rows of the held-out comparison.
func runDemo(w io.Writer, prog *progress, out string, threads int) ([]demoResult, error) {
	if threads < 0 {
		return nil, fmt.Errorf("--threads %d: must be 0 or more", threads)
	}
	b, err := openBackend("sim", backend.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	d, err := loadDemo()
	if err != nil {
		return nil, err
	}
	samples := d.calib.Size
	fmt.Fprintf(w, "amq demo: a 2-block transformer (digits, 8 tokens of 8 pixels) whose LayerNorm outputs\n"+
		"carry outlier channels (x100); calibration on %d samples, evaluation on %d held-out ones.\n\n", samples, len(d.labels))
	runs := []*demoRun{
		{title: "int8 with DMQ balance (alpha 0.5)", name: "transformer_dmq", cfg: demoDMQ},
		{title: "int8 without balance", name: "transformer_nobalance", cfg: demoPlain},
	}
	for _, r := range runs {
		release, err := lockOutput(filepath.Join(out, r.name), true, os.Stderr)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	for _, r := range runs {
		simple, err := quant.ParseSimpleConfig([]byte(r.cfg), r.name+" config")
		if err != nil {
			return nil, err
		}
		prefix := filepath.Join(out, r.name)
		hook := reportHook(prefix, "(built-in demo) demo/model_op17.onnx", "sim", &r.reportFiles)
		r.rep, err = quant.RunFlow(d.model, b, d.calib, prefix, quant.QuantizeOptions{Simple: simple, Progress: prog.step, BeforeCommit: hook,
			EvalBatches: d.calib.Len()}) // the demo compares quality: all of its batches
		prog.finish()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.title, err)
		}
	}
	fmt.Fprintf(w, "Per layer, %s (SQNR of each layer's output vs FP32 on the calibration data):\n\n", runs[0].title)
	printSummary(w, runs[0].rep)
	res, err := compareHeldOut(w, b, d, runs)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nThe balance divides each outlier channel of the activations by s_j = max|X_j|^0.5 / max|W_j|^0.5\n"+
		"and multiplies the weights by it, so one per-tensor int8 scale fits all channels.\n\n")
	for _, r := range runs {
		fmt.Fprintf(w, "wrote %s_{fake_quant_model,deploy_model}.onnx, %s, %s\n",
			filepath.Join(out, r.name), filepath.Base(r.rep.ConfigPath), filepath.Base(r.rep.RecordPath))
		fmt.Fprintf(w, "wrote %s_report.{json,md} and %d plots (%s_report_*.png)\n",
			filepath.Join(out, r.name), len(r.reportFiles)-2, r.name)
	}
	fmt.Fprintf(w, "\nThe report %s shows per layer what the balance did,\n"+
		"with the per-channel max|X| and max|W| before and after it (%s_report_balance_1.png).\n",
		filepath.Join(out, runs[0].name)+"_report.md", runs[0].name)
	return res, nil
}

// compareHeldOut runs the FP32 model and each run's deploy model on the
// held-out samples and prints their accuracy and output SQNR.
func compareHeldOut(w io.Writer, b backend.Backend, d *demoData, runs []*demoRun) ([]demoResult, error) {
	ref, err := runOutput(b, d.model, d.test)
	if err != nil {
		return nil, fmt.Errorf("FP32 model: %w", err)
	}
	fmt.Fprintf(w, "\nHeld-out comparison (%d samples):\n\n", len(d.labels))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\taccuracy\toutput SQNR vs FP32")
	acc, err := argmaxAccuracy(ref, d.labels)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(tw, "FP32\t%.2f%%\t-\n", acc)
	res := []demoResult{{"FP32", acc, math.NaN()}}
	for _, r := range runs {
		dep, err := onnx.LoadFile(r.rep.DeployPath)
		if err != nil {
			return nil, err
		}
		y, err := runOutput(b, dep, d.test)
		if err != nil {
			return nil, fmt.Errorf("%s: deploy model: %w", r.title, err)
		}
		acc, err := argmaxAccuracy(y, d.labels)
		if err != nil {
			return nil, err
		}
		db, err := quant.SQNR(ref, y)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s dB\n", r.title, acc, report.FormatSQNR(db))
		res = append(res, demoResult{r.title, acc, db})
	}
	return res, tw.Flush()
}

// runOutput runs m once on the backend and returns its first output.
func runOutput(b backend.Backend, m *onnx.Model, in map[string]*onnx.Tensor) (*onnx.Tensor, error) {
	r, err := b.Prepare(m, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res, err := r.Run(in)
	if err != nil {
		return nil, err
	}
	name := m.Graph.Outputs[0].Name
	y, ok := res[name]
	if !ok {
		return nil, fmt.Errorf("no output %q", name)
	}
	return y, nil
}

// argmaxAccuracy is the percentage of rows of logits [N, classes] whose
// largest entry is at the label.
func argmaxAccuracy(logits *onnx.Tensor, labels []int64) (float64, error) {
	d, err := onnx.Data[float32](logits)
	if err != nil {
		return 0, err
	}
	if logits.Rank() != 2 || logits.Shape[0] != len(labels) {
		return 0, fmt.Errorf("logits of shape %v for %d labels", logits.Shape, len(labels))
	}
	n, c := logits.Shape[0], logits.Shape[1]
	hit := 0
	for i := range n {
		best := 0
		for k := 1; k < c; k++ {
			if d[i*c+k] > d[i*c+best] {
				best = k
			}
		}
		if int64(best) == labels[i] {
			hit++
		}
	}
	return 100 * float64(hit) / float64(n), nil
}
