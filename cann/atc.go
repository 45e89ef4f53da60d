package cann

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"amq/backend"
	"amq/onnx"
)

// OutNode is one tensor requested from ATC as a model output, in ATC's
// "node_name:output_index" form.
type OutNode struct {
	Tensor string // the ONNX tensor name
	Node   string // the node that produces it
	Index  int    // which output of Node it is
}

// String returns the node_name:output_index form that ATC's --out_nodes takes.
func (o OutNode) String() string { return o.Node + ":" + strconv.Itoa(o.Index) }

// OutNodes maps tensor names to the nodes that produce them, for ATC's
// --out_nodes. Tensors that no node produces (graph inputs, initializers)
// cannot be ATC outputs and are returned in host: the caller serves them
// itself.
func OutNodes(g *onnx.Graph, tensors []string) (out []OutNode, host []string, err error) {
	for _, t := range tensors {
		p := g.Producer(t)
		if p == nil {
			if g.Input(t) != nil {
				host = append(host, t)
				continue
			}
			if _, ok := g.Constant(t); ok {
				host = append(host, t)
				continue
			}
			return nil, nil, fmt.Errorf("tensor %q is not defined in the graph", t)
		}
		idx := -1
		for i, o := range p.Outputs {
			if o == t {
				idx = i
				break
			}
		}
		out = append(out, OutNode{Tensor: t, Node: p.Name, Index: idx})
	}
	return out, host, nil
}

// ATCArgs builds the ATC command line (without --model and --output) for an
// ONNX model compiled with fixed input shapes and the given outputs, in
// precision mode prec (none given for backend.PrecisionDefault: ATC's own
// default, force_fp16 for inference).
func ATCArgs(soc string, shapes map[string][]int, inputOrder []string, outs []OutNode, prec backend.Precision) []string {
	var sh []string
	for _, name := range inputOrder {
		dims := shapes[name]
		ds := make([]string, len(dims))
		for i, d := range dims {
			ds[i] = strconv.Itoa(d)
		}
		sh = append(sh, name+":"+strings.Join(ds, ","))
	}
	on := make([]string, len(outs))
	for i, o := range outs {
		on[i] = o.String()
	}
	args := []string{"--framework=5", "--soc_version=" + soc}
	if len(sh) > 0 {
		args = append(args, "--input_shape="+strings.Join(sh, ";"))
	}
	if len(on) > 0 {
		args = append(args, "--out_nodes="+strings.Join(on, ";"))
	}
	// Observed tensors may be fp16 or int8 inside the NPU graph; FP32
	// outputs keep calibration statistics comparable with sim.
	args = append(args, "--output_type=FP32")
	if prec != backend.PrecisionDefault {
		args = append(args, "--precision_mode="+string(prec))
	}
	return args
}

// compiler turns ONNX bytes plus ATC arguments into a cached .om file.
type compiler struct {
	atc      string // command
	cacheDir string
}

// cacheKey hashes what determines the .om: the model and the arguments.
func cacheKey(model []byte, args []string) string {
	h := sha256.New()
	h.Write(model)
	for _, a := range args {
		h.Write([]byte{0})
		h.Write([]byte(a))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// compile returns the path of the .om for model and args, running ATC
// only when the cache does not hold it yet.
func (c *compiler) compile(ctx context.Context, model []byte, args []string) (string, error) {
	key := cacheKey(model, args)
	om := filepath.Join(c.cacheDir, key+".om")
	if _, err := os.Stat(om); err == nil {
		return om, nil
	}
	if err := os.MkdirAll(c.cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("ATC cache: %w", err)
	}
	work, err := os.MkdirTemp(c.cacheDir, "atc-")
	if err != nil {
		return "", fmt.Errorf("ATC cache: %w", err)
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "model.onnx")
	if err := os.WriteFile(src, model, 0o644); err != nil {
		return "", fmt.Errorf("ATC input: %w", err)
	}
	prefix := filepath.Join(work, "model")
	full := append([]string{"--model=" + src, "--output=" + prefix}, args...)
	cmd := exec.CommandContext(ctx, c.atc, full...)
	var stderr, stdout bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stdout
	cmd.Dir = work
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String()) // ATC logs errors to stdout too
		}
		if len(msg) > 8192 {
			msg = "..." + msg[len(msg)-8192:]
		}
		return "", fmt.Errorf("ATC failed (%s %s): %w\n%s", c.atc, strings.Join(full, " "), err, msg)
	}
	// ATC appends ".om"; some versions add a SoC suffix, so take the one .om.
	matches, _ := filepath.Glob(prefix + "*.om")
	if len(matches) != 1 {
		return "", fmt.Errorf("ATC (%s) succeeded but wrote %d .om files under %s", c.atc, len(matches), work)
	}
	if err := os.Rename(matches[0], om); err != nil {
		return "", fmt.Errorf("ATC cache: %w", err)
	}
	return om, nil
}

var npuSmiName = regexp.MustCompile(`\b(310P\d|310B\d|310|910B\d|910[A-Z]?\w*)\b`)

// socFromNpuSmi reads the chip name from `npu-smi info` ("310P3" gives
// "Ascend310P3").
func socFromNpuSmi() (string, error) {
	out, err := exec.Command("npu-smi", "info").Output()
	if err != nil {
		return "", fmt.Errorf("npu-smi info: %w", err)
	}
	m := npuSmiName.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("npu-smi info: no chip name in its output")
	}
	return "Ascend" + m[1], nil
}

// shapeKey identifies a set of input shapes.
func shapeKey(shapes map[string][]int) string {
	names := slices.Sorted(maps.Keys(shapes))
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%v;", n, shapes[n])
	}
	return b.String()
}
