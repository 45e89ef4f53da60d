package quant

import (
	"fmt"
	"maps"

	"amq/backend"
	"amq/onnx"
)

// evaluate sums, for every candidate of u, the squared difference between
// each layer's output quantized as the candidate has it and its float
// output, over the reservoir's rows. The candidates run through b in
// models of the unit's layers alone (candidateModel), on the exact
// arithmetic of Save's fake-quant model; as many candidates go into one
// model as searchEvalBytes of parameters allow, and as many rows into one
// run as searchEvalBytes of outputs allow. r holds rows (searchAlpha
// checks).
func (u *searchUnit) evaluate(b backend.Backend, m *onnx.Model, r *reservoir) error {
	params, outs := 0, 0 // per candidate: parameter and output values per row
	for _, sl := range u.layers {
		params += sl.weight.Len()
		outs += outputsPerRow(sl, r)
	}
	perModel := max(1, searchEvalBytes/(4*max(1, params)))
	for lo := 0; lo < len(u.cands); lo += perModel {
		cs := u.cands[lo:min(len(u.cands), lo+perModel)]
		cm, names, err := u.candidateModel(cs, m, r.shape)
		if err != nil {
			return err
		}
		rows := max(1, searchEvalBytes/(4*(r.width+outs*(len(cs)+1))))
		if err := u.runCandidates(b, cm, cs, names, r, rows); err != nil {
			return err
		}
	}
	return nil
}

// outputsPerRow estimates the output values of layer sl per row of r, to
// size runs: the row's values times the ratio of output to input channels
// (and, for a transposed convolution, its strides).
func outputsPerRow(sl *searchLayer, r *reservoir) int {
	cout, _, err := outputChannels(sl.layer.Type, sl.node, sl.weight.Shape)
	switch {
	case err != nil:
		return r.width
	case !r.samples:
		return cout
	case len(sl.wmax) == 0:
		return r.width
	}
	n := r.width * cout / len(sl.wmax)
	if sl.layer.Type == "ConvTranspose" {
		for _, s := range sl.node.AttrInts("strides") {
			n *= max(1, int(s))
		}
	}
	return max(1, n)
}

// candidateNames are the outputs of a candidate model: per layer of the
// unit, the float output, and per candidate and layer, the quantized one
// ("" for a candidate that could not be quantized).
type candidateNames struct {
	ref  []string
	cand [][]string
}

// candidateModel builds one model with input "x" (rows of shape rowShape)
// that computes every layer of u in float, on its weights in m, and as
// each candidate of cs quantizes it: the weight balanced and the input
// divided by the factors (ApplyBalance's Mul), then quantized with the
// candidate's scale_d and offset_d and ARQ's scale_w of the balanced
// weight, as Save's fake-quant model does. A candidate whose layer cannot
// be quantized (quantizeLayer refuses, say, a bias beyond int32) gets its
// error and no outputs.
func (u *searchUnit) candidateModel(cs []*searchCandidate, m *onnx.Model, rowShape []int) (*onnx.Model, *candidateNames, error) {
	g := newSearchGraph(rowShape)
	names := &candidateNames{}
	for li, sl := range u.layers {
		names.ref = append(names.ref, addSearchLayer(g, sl, fmt.Sprintf("ref.%d", li)).Name)
	}
	for ci, c := range cs {
		cg := newSearchGraph(rowShape)
		var out []string
		err := u.quantizedLayers(cg, c, fmt.Sprintf("cand.%d", ci), m.Opset())
		if err != nil {
			c.err = err
		} else {
			for li := range u.layers {
				out = append(out, fmt.Sprintf("cand.%d.%d", ci, li))
			}
			g.Nodes = append(g.Nodes, cg.Nodes...)
			maps.Copy(g.Initializers, cg.Initializers)
			g.Outputs = append(g.Outputs, cg.Outputs...)
		}
		names.cand = append(names.cand, out)
	}
	g.Reindex()
	return &onnx.Model{IRVersion: m.IRVersion, Opsets: maps.Clone(m.Opsets), Graph: g}, names, nil
}

// newSearchGraph is an empty graph with the float input "x" of rows of
// the given shape.
func newSearchGraph(rowShape []int) *onnx.Graph {
	shape := append([]onnx.Dim{{Param: "rows"}}, onnx.KnownDims(rowShape)...)
	return &onnx.Graph{Name: "amq_alpha_search", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{},
		Inputs: []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: shape}}}
}

// addSearchLayer adds to g a copy of sl's node called name that reads "x"
// and copies of its weight and bias, with its output, also called name, a
// graph output; it returns the copy as a Layer.
func addSearchLayer(g *onnx.Graph, sl *searchLayer, name string) *Layer {
	n := &onnx.Node{Name: name, OpType: sl.node.OpType, Domain: sl.node.Domain, Attrs: maps.Clone(sl.node.Attrs), Outputs: []string{name}}
	w := sl.weight.Clone()
	w.Name = name + ".weight"
	g.SetInitializer(w)
	n.Inputs = []string{"x", w.Name}
	l := &Layer{Name: name, Type: sl.layer.Type, Node: n, Input: "x", Weight: w.Name, Spatial: sl.layer.Spatial}
	if sl.bias != nil {
		bt := sl.bias.Clone()
		bt.Name = name + ".bias"
		g.SetInitializer(bt)
		n.Inputs = append(n.Inputs, bt.Name)
		l.Bias = bt.Name
	}
	g.Nodes = append(g.Nodes, n)
	g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: name, DType: onnx.Float})
	return l
}

// quantizedLayers adds to g, empty but for "x", the layers of u as
// candidate c quantizes them, named prefix.<layer index>.
func (u *searchUnit) quantizedLayers(g *onnx.Graph, c *searchCandidate, prefix string, opset int64) error {
	m := &onnx.Model{Opsets: map[string]int64{"": opset}, Graph: g}
	rec := Record{}
	var ls []*Layer
	for li, sl := range u.layers {
		l := addSearchLayer(g, sl, fmt.Sprintf("%s.%d", prefix, li))
		ls = append(ls, l)
		if !c.none {
			rec[l.Name] = &LayerRecord{BalanceFactor: c.factors}
		}
	}
	g.Reindex()
	if _, err := ApplyBalance(m, ls, rec, BalanceOptions{}); err != nil {
		return err
	}
	qls := make([]*quantLayer, len(ls))
	for li, l := range ls {
		n, w, err := layerWeight(g, l)
		if err != nil {
			return err
		}
		sw, err := ARQ(l.Type, n, w, u.layers[li].lc.Weight.ChannelWise)
		if err != nil {
			return fmt.Errorf("layer %q: %w", u.layers[li].layer.Name, err)
		}
		setQuantRecord(rec, l.Name, c.scaleD[li], c.offsetD[li], sw)
		l.Node = n
		if qls[li], _, err = quantizeLayer(g, l, rec[l.Name], nil); err != nil {
			return fmt.Errorf("layer %q: %w", u.layers[li].layer.Name, err)
		}
	}
	return rewrite(m, qls, false)
}

// runCandidates runs cm on the reservoir's rows, rows at a time, and adds
// each candidate's squared error against the float outputs.
func (u *searchUnit) runCandidates(b backend.Backend, cm *onnx.Model, cs []*searchCandidate, names *candidateNames, r *reservoir, rows int) (err error) {
	run, err := b.Prepare(cm, nil)
	if err != nil {
		return fmt.Errorf("%s: prepare the candidates' model: %w", u.name(), err)
	}
	defer func() {
		if cerr := run.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: close runner: %w", u.name(), cerr)
		}
	}()
	for lo := 0; lo < r.n; lo += rows {
		out, err := run.Run(map[string]*onnx.Tensor{"x": r.rows(lo, min(r.n, lo+rows))})
		if err != nil {
			return fmt.Errorf("%s: run the candidates' model: %w", u.name(), err)
		}
		for li, refName := range names.ref {
			ref, err := outputFloats(out, refName)
			if err != nil {
				return fmt.Errorf("%s: %w", u.name(), err)
			}
			for ci, c := range cs {
				if c.err != nil {
					continue
				}
				y, err := outputFloats(out, names.cand[ci][li])
				if err != nil {
					return fmt.Errorf("%s: %w", u.name(), err)
				}
				if len(y) != len(ref) {
					return fmt.Errorf("%s: quantized output of %d values, float output of %d", u.name(), len(y), len(ref))
				}
				c.sse += sqDiffSum(y, ref)
				c.n += int64(len(y))
			}
		}
	}
	return nil
}

// outputFloats is the float32 data of output name of a run.
func outputFloats(out map[string]*onnx.Tensor, name string) ([]float32, error) {
	t, err := outputTensor(out, name)
	if err != nil {
		return nil, err
	}
	return onnx.Data[float32](t)
}

// sqDiffSum is Σ (y_i − ref_i)² in float64 over slices of one length,
// summed in four interleaved parts so that the additions need not wait for
// each other (the α search sums some 10^8 of them per model).
func sqDiffSum(y, ref []float32) float64 {
	ref = ref[:len(y)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(y); i += 4 {
		s0 += sq(float64(y[i]) - float64(ref[i]))
		s1 += sq(float64(y[i+1]) - float64(ref[i+1]))
		s2 += sq(float64(y[i+2]) - float64(ref[i+2]))
		s3 += sq(float64(y[i+3]) - float64(ref[i+3]))
	}
	for ; i < len(y); i++ {
		s0 += sq(float64(y[i]) - float64(ref[i]))
	}
	return (s0 + s1) + (s2 + s3)
}
