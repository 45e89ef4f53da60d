// Command fakeatc stands in for Huawei's ATC in amq's tests: it accepts
// ATC's command line for ONNX models (--model, --framework=5, --output,
// --soc_version, --input_shape, --out_nodes, --output_type,
// --precision_mode) and writes
// <output>.om in the fake runtime's format (cgo/fake/amq_fake.h): the I/O
// description plus the ONNX model, rewritten so that its inputs have the
// given static shapes and its outputs are the --out_nodes tensors in order
// (as ATC does). Output shapes come from one sim run on zero inputs.
//
// By default the .om names its outputs after their ONNX tensors, in the
// order of --out_nodes. AMQ_FAKE_ATC_OUTPUTS makes it order and name them
// as real ATC may instead: the inputs and the outputs in reverse order, and
// the outputs named as CANN's runtime reports them (see cann/names.go):
//
//	node           "node:index" (ATC with --out_nodes given as node:index)
//	node-tensor    "node:index:tensor" (ATC knowing the ONNX tensor names)
//	position       "output_<i>_<node>_<index>" (models without output names)
//
// AMQ_FAKE_ATC_RENAME="old=new[;...]" then renames outputs, as ATC does
// when it expands a node into several and reports the new node's output.
//
// --precision_mode is recorded in the payload's metadata (key
// amq.precision_mode), and the fake runtime executes the model with sim
// emulating that mode. Without it the fake compiles with
// AMQ_FAKE_ATC_PRECISION_DEFAULT when set (force_fp16 imitates real ATC,
// whose inference default that is), else with none: float32, as sim
// computes by default, so that the flow's tests compare exact results.
//
// Test hooks: AMQ_FAKE_ATC_FAIL=msg makes it print msg to stderr and exit
// 1; AMQ_FAKE_ATC_LOG=file appends one line per compilation.
package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"amq/backend"
	"amq/cann"
	"amq/internal/atomicfile"
	"amq/onnx"
	"amq/sim"
)

// precisionKey is the payload's metadata key that holds ATC's
// --precision_mode; the fake runtime (cgo/fake/fakeacl, precisionKey)
// reads it.
const precisionKey = "amq.precision_mode"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ATC run failed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if msg := os.Getenv("AMQ_FAKE_ATC_FAIL"); msg != "" {
		return fmt.Errorf("%s", msg)
	}
	flags := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			return fmt.Errorf("unexpected argument %q", a)
		}
		flags[k] = v
	}
	if flags["framework"] != "5" {
		return fmt.Errorf("--framework=%s: only 5 (ONNX) is supported", flags["framework"])
	}
	if flags["model"] == "" || flags["output"] == "" || flags["soc_version"] == "" {
		return fmt.Errorf("--model, --output and --soc_version are required")
	}
	prec, ok := flags["precision_mode"]
	if !ok {
		prec = os.Getenv("AMQ_FAKE_ATC_PRECISION_DEFAULT")
	}
	if _, err := backend.ParsePrecision(prec); err != nil {
		return fmt.Errorf("--precision_mode: %w", err)
	}
	m, err := onnx.LoadFile(flags["model"])
	if err != nil {
		return err
	}
	if prec != "" {
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[precisionKey] = prec
	}
	g := m.Graph
	shapes := map[string][]int{}
	if s := flags["input_shape"]; s != "" {
		for _, item := range strings.Split(s, ";") {
			i := strings.LastIndex(item, ":")
			if i < 0 {
				return fmt.Errorf("--input_shape: bad item %q", item)
			}
			var dims []int
			if d := item[i+1:]; d != "" {
				for _, ds := range strings.Split(d, ",") {
					v, err := strconv.Atoi(ds)
					if err != nil || v < 0 {
						return fmt.Errorf("--input_shape: bad dimension %q in %q", ds, item)
					}
					dims = append(dims, v)
				}
			}
			shapes[item[:i]] = dims
		}
	}
	feeds := map[string]*onnx.Tensor{}
	for _, in := range g.Inputs {
		dims, ok := shapes[in.Name]
		if !ok {
			if dims, ok = in.Dims(); !ok {
				return fmt.Errorf("input %q has a dynamic shape: give it in --input_shape", in.Name)
			}
		}
		in.Shape = onnx.KnownDims(dims)
		if feeds[in.Name], err = onnx.Zeros(in.DType, dims); err != nil {
			return fmt.Errorf("input %q: %w", in.Name, err)
		}
	}
	naming := os.Getenv("AMQ_FAKE_ATC_OUTPUTS")
	if naming != "" && naming != "node" && naming != "node-tensor" && naming != "position" {
		return fmt.Errorf("AMQ_FAKE_ATC_OUTPUTS=%s: want node, node-tensor or position", naming)
	}
	var outs []string
	if s := flags["out_nodes"]; s != "" {
		for _, item := range strings.Split(s, ";") {
			i := strings.LastIndex(item, ":")
			idx, err := strconv.Atoi(item[i+1:])
			if i < 0 || err != nil {
				return fmt.Errorf("--out_nodes: bad item %q (want node:index)", item)
			}
			n := g.Node(item[:i])
			if n == nil || idx < 0 || idx >= len(n.Outputs) {
				return fmt.Errorf("--out_nodes: %q: no such node output", item)
			}
			outs = append(outs, n.Outputs[idx])
		}
	} else {
		for _, o := range g.Outputs {
			outs = append(outs, o.Name)
		}
	}
	s, err := sim.NewSession(m, nil)
	if err != nil {
		return err
	}
	res, err := s.Run(feeds, outs...)
	if err != nil {
		return fmt.Errorf("shape inference run: %w", err)
	}
	if naming != "" {
		slices.Reverse(outs)
		slices.Reverse(g.Inputs)
	}
	fp32 := strings.EqualFold(flags["output_type"], "FP32")
	g.Outputs = nil
	renames := map[string]string{}
	if s := os.Getenv("AMQ_FAKE_ATC_RENAME"); s != "" {
		for _, item := range strings.Split(s, ";") {
			old, new, ok := strings.Cut(item, "=")
			if !ok {
				return fmt.Errorf("AMQ_FAKE_ATC_RENAME: bad item %q (want old=new)", item)
			}
			renames[old] = new
		}
	}
	outNames := make([]string, len(outs))
	for i, o := range outs {
		outNames[i] = atcName(g, naming, o, i)
		if n, ok := renames[outNames[i]]; ok {
			outNames[i] = n
		}
		t := res[o]
		dt := t.DType
		if fp32 {
			dt = onnx.Float
		}
		g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: o, DType: dt, Shape: onnx.KnownDims(t.Shape)})
	}
	g.Reindex()
	payload, err := m.Marshal()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("AMQOM1\n")
	for _, part := range []struct {
		kind  string
		list  []*onnx.ValueInfo
		names []string // as the runtime reports them; nil: the tensor names
	}{{"input", g.Inputs, nil}, {"output", g.Outputs, outNames}} {
		for i, vi := range part.list {
			name := vi.Name
			if part.names != nil {
				name = part.names[i]
			}
			at, err := cann.ACLType(vi.DType)
			if err != nil {
				return fmt.Errorf("%s %q: %w", part.kind, vi.Name, err)
			}
			if strings.ContainsAny(name, "\n") || len(name) >= 2048 {
				return fmt.Errorf("%s %q: name not representable", part.kind, name)
			}
			fmt.Fprintf(&b, "%s %d %d", part.kind, at, len(vi.Shape))
			for _, d := range vi.Shape {
				fmt.Fprintf(&b, " %d", d.Value)
			}
			fmt.Fprintf(&b, " %d %s\n", len(name), name)
		}
	}
	fmt.Fprintf(&b, "payload %d\n", len(payload))
	b.Write(payload)
	if err := atomicfile.WriteFile(flags["output"]+".om", b.Bytes()); err != nil {
		return err
	}
	if log := os.Getenv("AMQ_FAKE_ATC_LOG"); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, strings.Join(args, " "))
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// atcName is the name the fake .om gives output pos, tensor t, under the
// AMQ_FAKE_ATC_OUTPUTS naming.
func atcName(g *onnx.Graph, naming, t string, pos int) string {
	node, idx := t, 0
	if p := g.Producer(t); p != nil {
		node, idx = p.Name, slices.Index(p.Outputs, t)
	}
	ni := node + ":" + strconv.Itoa(idx)
	switch naming {
	case "node":
		return ni
	case "node-tensor":
		return ni + ":" + t
	case "position":
		return "output_" + strconv.Itoa(pos) + "_" + node + "_" + strconv.Itoa(idx)
	}
	return t
}
