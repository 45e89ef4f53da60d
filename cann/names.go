package cann

import (
	"fmt"
	"strconv"
	"strings"
)

// ioMap says which ONNX tensor each input and output of a compiled model
// is: ATC does not promise to keep the order of --out_nodes, so the model's
// I/O are matched by the names the runtime reports
// (aclmdlGetInputNameByIndex, aclmdlGetOutputNameByIndex).
type ioMap struct {
	inputs  []int // for each model input, its index in the graph's inputs
	outputs []int // for each model output, its index in the requested outputs
}

// atcOutputNames lists the names ATC and the ACL runtime give the output
// at position pos of a model compiled with --out_nodes listing o (CANN's
// GE sources, hicann/ge: api/atc/omg.cc CreateOutputNodesInfo,
// runtime/v1/graph/load/model_manager/davinci_model.cc InitOutputDescInfo):
//   - "node:index" for an --out_nodes entry given as node:index;
//   - "node:index:tensor" when ATC knows the ONNX tensor name (default
//     outputs, or --out_nodes given by tensor name);
//   - "output_<pos>_<node>_<index>" for models that carry no output names;
//   - the tensor name itself, which amq's fake ATC uses.
func atcOutputNames(o OutNode, pos int) [4]string {
	ni := o.String()
	return [4]string{ni, ni + ":" + o.Tensor, "output_" + strconv.Itoa(pos) + "_" + o.Node + "_" + strconv.Itoa(o.Index), o.Tensor}
}

// mapIO matches a compiled model's input names to the graph's inputs and
// its output names to the requested outputs. Every graph input and every
// requested output must be found exactly once; the error names what is
// missing and lists the model's names.
func mapIO(om string, inNames, graphInputs, outNames []string, outs []OutNode) (ioMap, error) {
	var m ioMap
	var err error
	if m.inputs, err = mapInputs(inNames, graphInputs); err != nil {
		return ioMap{}, fmt.Errorf("%s: %w", om, err)
	}
	if m.outputs, err = mapOutputs(outNames, outs); err != nil {
		return ioMap{}, fmt.Errorf("%s: %w", om, err)
	}
	return m, nil
}

// mapInputs: ATC names each input after its ONNX graph input (the parser
// makes one Data node per input, named as the input).
func mapInputs(names, graphInputs []string) ([]int, error) {
	index := make(map[string]int, len(graphInputs))
	for i, n := range graphInputs {
		index[n] = i
	}
	res := make([]int, len(names))
	seen := make([]bool, len(graphInputs))
	for i, n := range names {
		g, ok := index[n]
		if !ok {
			return nil, fmt.Errorf("compiled model input %d %q is not an input of the ONNX model (its inputs: %s)", i, n, quoteList(graphInputs))
		}
		if seen[g] {
			return nil, fmt.Errorf("compiled model has input %q twice", n)
		}
		seen[g] = true
		res[i] = g
	}
	for g, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("compiled model has no input %q (its inputs: %s)", graphInputs[g], quoteList(names))
		}
	}
	return res, nil
}

func mapOutputs(names []string, outs []OutNode) ([]int, error) {
	res := make([]int, len(names))
	found := make([]int, len(outs)) // 1 + the model output that matched each request
	var unmatched []string
	for pos, n := range names {
		match := -1
		for k, o := range outs {
			for _, cand := range atcOutputNames(o, pos) {
				if n != cand {
					continue
				}
				if match >= 0 && match != k {
					return nil, fmt.Errorf("compiled model output %d %q matches both %q and %q", pos, n, outs[match].Tensor, o.Tensor)
				}
				match = k
			}
		}
		if match < 0 {
			unmatched = append(unmatched, n)
			continue
		}
		if found[match] != 0 {
			return nil, fmt.Errorf("compiled model outputs %q and %q are both tensor %q", names[found[match]-1], n, outs[match].Tensor)
		}
		found[match] = pos + 1
		res[pos] = match
	}
	for k, f := range found {
		if f == 0 {
			return nil, fmt.Errorf("compiled model has no output for tensor %q (--out_nodes %s); its outputs that match no requested tensor: %s", outs[k].Tensor, outs[k], quoteList(unmatched))
		}
	}
	if len(unmatched) > 0 {
		return nil, fmt.Errorf("compiled model outputs %s match no requested tensor (requested: %s)", quoteList(unmatched), outList(outs))
	}
	return res, nil
}

// quoteList formats names for an error message; long lists are cut short.
func quoteList(names []string) string {
	const most = 12
	q := make([]string, 0, min(len(names), most+1))
	for i, n := range names {
		if i == most {
			q = append(q, fmt.Sprintf("... (%d in all)", len(names)))
			break
		}
		q = append(q, strconv.Quote(n))
	}
	if len(q) == 0 {
		return "none"
	}
	return strings.Join(q, ", ")
}

func outList(outs []OutNode) string {
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = o.Tensor + " as " + o.String()
	}
	return quoteList(names)
}
