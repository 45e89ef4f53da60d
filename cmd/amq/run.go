package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"amq/backend"
	"amq/npy"
	"amq/onnx"
	"amq/onnx/opset"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// runFlags are the settings of amq run.
type runFlags struct {
	model   string
	inputs  []string
	outputs []string
	backend backendFlags
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --model M.onnx --input x.npy [--output y.npy]",
		Short: "Run a model on .npy inputs and write its outputs as .npy",
		Long: `Run executes an ONNX model once and prints the name, shape and type of
each output, and the load and run times.

--input takes name=path, or a bare path for the first input; repeat it for
models with several inputs. A .npz path supplies every input whose name is
one of its arrays.

--precision runs the model as the NPU computes it under that ATC precision
mode (sim emulates force_fp16's float16 operators; see the README's board
section) and lists every node whose values overflow float16 or flush to
zero in bulk.

--output takes name=path, or a bare path: the file of a single-output model,
or a folder (created if needed) receiving <output name>.npy for each output.
Without --output nothing is written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runModel(cmd.Context(), cmd.OutOrStdout(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "ONNX model to run (required)")
	fl.StringArrayVar(&f.inputs, "input", nil, "input as name=path.npy, path.npy (first input) or path.npz; repeatable")
	fl.StringArrayVar(&f.outputs, "output", nil, "output as name=path.npy, a .npy path (single output) or a folder; repeatable")
	f.backend.add(fl, "sim")
	f.backend.addPrecision(fl)
	cmd.MarkFlagRequired("model")
	return cmd
}

func runModel(ctx context.Context, w io.Writer, f *runFlags) error {
	be, err := f.backend.open()
	if err != nil {
		return err
	}
	start := time.Now()
	load := onnx.LoadFile
	if f.backend.name == "sim" {
		// sim widens float16 weights per panel: the model stays its size.
		load = onnx.LoadFileHalves
	}
	model, err := load(f.model)
	if err != nil {
		return err
	}
	// Every backend gets opset-11 forms (docs/design.md "Old opsets");
	// older models than opset.Oldest run as they are, where sim can.
	if v := model.Opset(); v >= opset.Oldest && v < opset.Target {
		if model, err = opset.Upgrade(model, opset.Target); err != nil {
			return fmt.Errorf("%s: %w", f.model, err)
		}
		fmt.Fprintf(w, "converted from opset %d to %d\n", v, opset.Target)
	}
	inputs, err := readRunInputs(model.Graph, f.inputs)
	if err != nil {
		return err
	}
	targets, err := runOutputTargets(model.Graph, f.outputs)
	if err != nil {
		return err
	}
	runner, err := be.Prepare(model, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	defer runner.Close()
	loaded := time.Since(start)

	start = time.Now()
	res, err := backend.RunContext(ctx, runner, inputs) // stops between nodes on SIGINT/SIGTERM
	if err != nil {
		return fmt.Errorf("%s: %w", f.model, err)
	}
	ran := time.Since(start)

	for _, o := range model.Graph.Outputs {
		t, ok := res[o.Name]
		if !ok {
			return fmt.Errorf("%s: backend %s returned no output %q", f.model, f.backend.name, o.Name)
		}
		fmt.Fprintf(w, "%s\t%v\t%v\n", o.Name, shapeString(t.Shape), t.DType)
		if path, ok := targets[o.Name]; ok {
			if err := npy.WriteFile(path, t); err != nil {
				return fmt.Errorf("output %q: %w", o.Name, err)
			}
		}
	}
	fmt.Fprintf(w, "load %v, run %v (backend %s)\n", loaded.Round(time.Microsecond), ran.Round(time.Microsecond), f.backend.name)
	reportFP16(w, f.backend.name, backend.Precision(f.backend.precision), runner)
	return nil
}

// readRunInputs reads the --input arguments into graph inputs by name.
func readRunInputs(g *onnx.Graph, args []string) (map[string]*onnx.Tensor, error) {
	isInput := map[string]bool{}
	var names []string
	for _, in := range g.Inputs {
		isInput[in.Name] = true
		names = append(names, in.Name)
	}
	inputs := map[string]*onnx.Tensor{}
	set := func(name, src string, t *onnx.Tensor) error {
		if _, dup := inputs[name]; dup {
			return fmt.Errorf("--input %s: input %q is given twice", src, name)
		}
		inputs[name] = t
		return nil
	}
	for _, arg := range args {
		name, path, hasName := strings.Cut(arg, "=")
		if !hasName || !isInput[name] {
			// A bare path; it may contain '=' itself.
			name, path = "", arg
		}
		if name == "" && strings.EqualFold(filepath.Ext(path), ".npz") {
			arrays, err := npy.ReadNPZFile(path)
			if err != nil {
				return nil, fmt.Errorf("--input: %w", err)
			}
			used := 0
			for key, t := range arrays {
				if isInput[key] {
					if err := set(key, path, t); err != nil {
						return nil, err
					}
					used++
				}
			}
			if used == 0 {
				return nil, fmt.Errorf("--input %s: no array is named after an input of the model (inputs: %s)", path, strings.Join(names, ", "))
			}
			continue
		}
		if name == "" {
			if _, err := os.Stat(arg); err != nil && hasName {
				before, _, _ := strings.Cut(arg, "=")
				return nil, fmt.Errorf("--input %s: %q is not an input of the model (inputs: %s)", arg, before, strings.Join(names, ", "))
			}
			if len(g.Inputs) == 0 {
				return nil, fmt.Errorf("--input %s: the model has no inputs", arg)
			}
			name = g.Inputs[0].Name
		}
		t, err := npy.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", name, err)
		}
		t.Name = name
		if err := set(name, path, t); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, in := range g.Inputs {
		if _, ok := inputs[in.Name]; !ok {
			missing = append(missing, in.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no --input for %s (give name=path.npy)", strings.Join(missing, ", "))
	}
	return inputs, nil
}

// runOutputTargets maps the --output arguments to a file per output name.
func runOutputTargets(g *onnx.Graph, args []string) (map[string]string, error) {
	isOutput := map[string]bool{}
	for _, o := range g.Outputs {
		isOutput[o.Name] = true
	}
	targets := map[string]string{}
	add := func(name, path string) error {
		if prev, dup := targets[name]; dup {
			return fmt.Errorf("--output: output %q goes to both %s and %s", name, prev, path)
		}
		targets[name] = path
		return nil
	}
	for _, arg := range args {
		if name, path, ok := strings.Cut(arg, "="); ok && isOutput[name] {
			if err := add(name, path); err != nil {
				return nil, err
			}
			continue
		}
		st, err := os.Stat(arg)
		isDir := err == nil && st.IsDir()
		if !isDir && len(g.Outputs) == 1 {
			if err := add(g.Outputs[0].Name, arg); err != nil {
				return nil, err
			}
			continue
		}
		if !isDir {
			if strings.EqualFold(filepath.Ext(arg), ".npy") {
				return nil, fmt.Errorf("--output %s: the model has %d outputs; give a folder or name=path.npy", arg, len(g.Outputs))
			}
			if err := os.MkdirAll(arg, 0o755); err != nil {
				return nil, fmt.Errorf("--output: %w", err)
			}
		}
		used := map[string]string{}
		for _, o := range g.Outputs {
			file := fileNameFor(o.Name) + ".npy"
			if prev, clash := used[file]; clash {
				return nil, fmt.Errorf("--output %s: outputs %q and %q would both be written to %s; use name=path", arg, prev, o.Name, file)
			}
			used[file] = o.Name
			if err := add(o.Name, filepath.Join(arg, file)); err != nil {
				return nil, err
			}
		}
	}
	return targets, nil
}

// fileNameFor turns a tensor name into a safe file name: ONNX names may
// hold '/', ':' and other characters that paths treat specially.
func fileNameFor(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	if s == "" || strings.Trim(s, ".") == "" {
		s = "_" + s
	}
	return s
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
