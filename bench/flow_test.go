package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
)

// flowCase is one model the whole flow is timed on: samples random
// samples of the input shape (without the batch axis), batch at a time.
type flowCase struct {
	name    string
	model   func(b *testing.B) string // writes or finds the model file
	shape   []int
	samples int
	batch   int
	config  string // simplified config text; "" for the defaults
}

// BenchmarkFlow times `amq quantize` as a user runs it, in its own process
// (sim backend, all cores), on random calibration data, and reports its
// wall time, its peak resident memory, and one ONNX Runtime pass over the
// same batches (all cores) for scale:
//
//   - resnet18-dmq: the ResNet-18-shaped model of this package at batch 8,
//     256 samples, DMQ balance (migration strength 0.5) and IFMR on every
//     layer (issue 10: ≤ 20 s, ≤ 500 MB);
//   - ppocr-rec: PaddleOCR's 10.8 MB PP-OCRv4 recognizer (fetched by
//     scripts/fetch-ocr-models.sh), 256 text lines of 48x320, default
//     config (issue 10: ≤ 3 ORT passes, ≤ 300 MB).
//
// Run with -benchtime=1x (scripts/bench-flow.sh); each iteration is one
// whole flow.
func BenchmarkFlow(b *testing.B) {
	testfixture.RequireORT(b)
	amq := buildAmq(b)
	cases := []flowCase{
		{name: "resnet18-dmq", shape: []int{3, 224, 224}, samples: 256, batch: 8,
			config: "batch_num : 32\nactivation_offset : true\ncommon_config : {\n    dmq_balancer : { migration_strength : 0.5 }\n}\n",
			model: func(b *testing.B) string {
				path := filepath.Join(b.TempDir(), "resnet18_b8.onnx")
				if err := ResNet18(8, seed).Save(path, nil); err != nil {
					b.Fatal(err)
				}
				return path
			}},
		{name: "ppocr-rec", shape: []int{3, 48, 320}, samples: 256, batch: 8,
			model: func(b *testing.B) string {
				path := filepath.Join(ocrModels(), "ch_PP-OCRv4_rec_infer.onnx")
				if _, err := os.Stat(path); err != nil {
					b.Skipf("%v: run scripts/fetch-ocr-models.sh", err)
				}
				return path
			}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchFlow(b, amq, c) })
	}
}

func benchFlow(b *testing.B, amq string, c flowCase) {
	dir := b.TempDir()
	model := c.model(b)
	data := RandomInput(seed, append([]int{c.samples}, c.shape...)...)
	dataPath := filepath.Join(dir, "calib.npy")
	if err := npy.WriteFile(dataPath, data); err != nil {
		b.Fatal(err)
	}
	args := []string{"quantize", "--model", model, "--data", dataPath, "--batch-size", fmt.Sprint(c.batch),
		"--batch-num", fmt.Sprint(c.samples / c.batch), "--no-report"}
	if c.config != "" {
		cfg := filepath.Join(dir, "flow.cfg")
		if err := os.WriteFile(cfg, []byte(c.config), 0o644); err != nil {
			b.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	ortTime := ortPass(b, model, data, c.batch)
	var rss int64
	var phases string
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(dir, fmt.Sprintf("run%d", i), "q")
		cmd := exec.Command(amq, append(args, "--out", out)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		hwm := watchHWM(cmd.Process.Pid)
		err := cmd.Wait()
		if err != nil {
			b.Fatalf("amq %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		rss = max(rss, hwm())
		phases = stderr.String()
		os.RemoveAll(filepath.Dir(out))
	}
	flow := b.Elapsed().Seconds() / float64(b.N)
	b.Logf("amq quantize phases:\n%s", phases)
	b.ReportMetric(flow, "flow-s")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MB")
	b.ReportMetric(ortTime.Seconds(), "ORT-pass-s")
	b.ReportMetric(flow/ortTime.Seconds(), "flow/ORT-pass")
}

// ortPass is the time of one ONNX Runtime pass (all cores) over data in
// batches of batch samples.
func ortPass(b *testing.B, model string, data *onnx.Tensor, batch int) time.Duration {
	s, err := ort.NewSession(model, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	name := "x"
	if m, err := onnx.LoadFile(model); err == nil && len(m.Graph.Inputs) > 0 {
		name = m.Graph.Inputs[0].Name
	}
	n := data.Shape[0] / batch
	run := func(i int) {
		in, err := data.Rows(i*batch, (i+1)*batch)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Run(map[string]*onnx.Tensor{name: in}); err != nil {
			b.Fatal(err)
		}
	}
	run(0) // ONNX Runtime plans its memory on the first run
	start := time.Now()
	for i := range n {
		run(i)
	}
	return time.Since(start)
}

// watchHWM samples the peak resident memory (VmHWM, in KiB) of process pid
// every 20 ms until the returned function is called, which returns the
// last value read. The rusage of a child cannot tell: Go starts children
// sharing its own memory until they exec, and Linux counts that peak, the
// benchmark's own, as the child's.
func watchHWM(pid int) func() int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
						if v, err := strconv.ParseInt(f[1], 10, 64); err == nil && v > peak.Load() {
							peak.Store(v)
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// buildAmq builds the amq command into a temporary folder, or returns
// $AMQ_FLOW_BIN, an amq built elsewhere (another commit, to compare).
func buildAmq(b *testing.B) string {
	if exe := os.Getenv("AMQ_FLOW_BIN"); exe != "" {
		return exe
	}
	exe := filepath.Join(b.TempDir(), "amq")
	cmd := exec.Command("go", "build", "-o", exe, "amq/cmd/amq")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// ocrModels is where scripts/fetch-ocr-models.sh puts PaddleOCR's models.
func ocrModels() string {
	cache := os.Getenv("AMQ_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "amq")
	}
	return filepath.Join(cache, "ocr-models-1.4.2")
}
