package onnx

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"amq/internal/atomicfile"
	"amq/onnx/onnxpb"
)

// SaveOptions controls how Save writes tensors.
type SaveOptions struct {
	// ExternalData writes every initializer of at least ExternalThreshold
	// bytes to one data file next to the model, named <model file>.data.
	// Save turns it on by itself when the model would not fit in the 2 GiB
	// protobuf limit.
	ExternalData      bool
	ExternalThreshold int
}

// Save writes m to path atomically: the model (and its external data file,
// if any) is written to temporary files that are renamed into place only
// when everything succeeded.
func (m *Model) Save(path string, opt *SaveOptions) error {
	var o SaveOptions
	if opt != nil {
		o = *opt
	}
	if o.ExternalThreshold <= 0 {
		o.ExternalThreshold = 1024
	}
	if !o.ExternalData && m.initBytes() > maxModelFile-(64<<20) {
		o.ExternalData = true
	}
	var data *externalWriter
	var ext func(*Tensor, []byte, *onnxpb.TensorProto) error
	if o.ExternalData {
		var err error
		if data, err = newExternalWriter(path, o.ExternalThreshold); err != nil {
			return err
		}
		defer data.f.Abort()
		ext = data.write
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	// The model streams out tensor by tensor (encodeTo): no serialized
	// copy of the weights is ever held.
	w := bufio.NewWriterSize(f, 1<<20)
	if err := m.encodeTo(w, ext); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if data != nil {
		if err := data.f.Commit(); err != nil {
			return err
		}
	}
	return f.Commit()
}

// externalWriter moves the raw data of large tensors to the model's
// external data file, "<model file>.data" next to it.
type externalWriter struct {
	f         *atomicfile.File
	name      string // the data file's name, as the model refers to it
	offset    int64
	threshold int // tensors of fewer raw bytes stay in the model
}

func newExternalWriter(model string, threshold int) (*externalWriter, error) {
	name := filepath.Base(model) + ".data"
	f, err := atomicfile.Create(filepath.Join(filepath.Dir(model), name))
	if err != nil {
		return nil, err
	}
	return &externalWriter{f: f, name: name, threshold: threshold}, nil
}

// write moves raw, t's raw data, to the file, when it is large enough, and
// makes p refer to it.
func (e *externalWriter) write(t *Tensor, raw []byte, p *onnxpb.TensorProto) error {
	if len(raw) < e.threshold {
		return nil
	}
	// Align each tensor to 64 bytes, as ONNX's own writer does for mmap.
	if pad := (64 - e.offset%64) % 64; pad > 0 {
		if _, err := e.f.Write(make([]byte, pad)); err != nil {
			return err
		}
		e.offset += pad
	}
	if _, err := e.f.Write(raw); err != nil {
		return err
	}
	p.ExternalData = []*onnxpb.StringStringEntryProto{
		{Key: ptr("location"), Value: ptr(e.name)},
		{Key: ptr("offset"), Value: ptr(strconv.FormatInt(e.offset, 10))},
		{Key: ptr("length"), Value: ptr(strconv.Itoa(len(raw)))},
	}
	p.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	e.offset += int64(len(raw))
	return nil
}

// Marshal serializes m with all tensors inline.
func (m *Model) Marshal() ([]byte, error) {
	var b bytes.Buffer
	if err := m.encodeTo(&b, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (m *Model) initBytes() int64 {
	var n int64
	for _, t := range m.Graph.Initializers {
		n += int64(t.Len() * max(t.DType.Size(), 1))
	}
	return n
}

// ToProto converts m to a ModelProto with all tensors inline.
func (m *Model) ToProto() (*onnxpb.ModelProto, error) { return m.toProto(false) }

// toProto converts m; with noInits the graph has no initializers (the
// skeleton that encodeTo writes them into).
func (m *Model) toProto(noInits bool) (*onnxpb.ModelProto, error) {
	p := &onnxpb.ModelProto{}
	if m.rest != nil {
		p.Functions = m.rest.Functions
		p.TrainingInfo = m.rest.TrainingInfo
		p.ProtoReflect().SetUnknown(m.rest.ProtoReflect().GetUnknown())
	}
	p.IrVersion = ptr(m.IRVersion)
	if m.ProducerName != "" {
		p.ProducerName = ptr(m.ProducerName)
	}
	if m.ProducerVersion != "" {
		p.ProducerVersion = ptr(m.ProducerVersion)
	}
	if m.Domain != "" {
		p.Domain = ptr(m.Domain)
	}
	if m.ModelVersion != 0 {
		p.ModelVersion = ptr(m.ModelVersion)
	}
	if m.DocString != "" {
		p.DocString = ptr(m.DocString)
	}
	for _, d := range slices.Sorted(maps.Keys(m.Opsets)) {
		p.OpsetImport = append(p.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: ptr(d), Version: ptr(m.Opsets[d])})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		p.MetadataProps = append(p.MetadataProps, &onnxpb.StringStringEntryProto{Key: ptr(k), Value: ptr(m.Metadata[k])})
	}
	g, err := m.Graph.toProto(noInits)
	if err != nil {
		return nil, err
	}
	p.Graph = g
	return p, nil
}

func (g *Graph) toProto(noInits bool) (*onnxpb.GraphProto, error) {
	p := &onnxpb.GraphProto{}
	if g.Name != "" {
		p.Name = ptr(g.Name)
	}
	if g.DocString != "" {
		p.DocString = ptr(g.DocString)
	}
	names := g.sortedInitNames()
	for _, name := range names {
		if noInits {
			break
		}
		t := g.Initializers[name]
		tp, err := t.ToProto()
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		tp.Name = ptr(name)
		p.Initializer = append(p.Initializer, tp)
	}
	for _, vi := range g.Inputs {
		p.Input = append(p.Input, vi.toProto())
	}
	for _, name := range names {
		if vi, ok := g.initInputs[name]; ok {
			p.Input = append(p.Input, vi.toProto())
		}
	}
	for _, vi := range g.Outputs {
		p.Output = append(p.Output, vi.toProto())
	}
	for _, n := range slices.Sorted(maps.Keys(g.ValueInfo)) {
		p.ValueInfo = append(p.ValueInfo, g.ValueInfo[n].toProto())
	}
	for _, n := range g.Nodes {
		np := &onnxpb.NodeProto{
			Input:  n.Inputs,
			Output: n.Outputs,
			OpType: ptr(n.OpType),
		}
		if n.Name != "" {
			np.Name = ptr(n.Name)
		}
		if n.Domain != "" {
			np.Domain = ptr(n.Domain)
		}
		if n.DocString != "" {
			np.DocString = ptr(n.DocString)
		}
		for _, k := range slices.Sorted(maps.Keys(n.Attrs)) {
			ap, err := n.Attrs[k].toProto()
			if err != nil {
				return nil, fmt.Errorf("%v attribute %q: %w", n, k, err)
			}
			np.Attribute = append(np.Attribute, ap)
		}
		p.Node = append(p.Node, np)
	}
	return p, nil
}

func (v *ValueInfo) toProto() *onnxpb.ValueInfoProto {
	p := &onnxpb.ValueInfoProto{Name: ptr(v.Name)}
	if v.DType == Undefined && v.Shape == nil {
		return p
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(v.DType))}
	if v.Shape != nil {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
		for _, d := range v.Shape {
			dp := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Param != "":
				dp.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dp.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dp)
		}
	}
	p.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
	return p
}

func (a *Attr) toProto() (*onnxpb.AttributeProto, error) {
	if a.Proto != nil {
		return a.Proto, nil
	}
	p := &onnxpb.AttributeProto{Name: ptr(a.Name), Type: onnxpb.AttributeProto_AttributeType(a.Type).Enum()}
	switch a.Type {
	case AttrFloat:
		p.F = ptr(a.F)
	case AttrInt:
		p.I = ptr(a.I)
	case AttrString:
		p.S = []byte(a.S)
	case AttrTensor:
		t, err := a.T.ToProto()
		if err != nil {
			return nil, err
		}
		p.T = t
	case AttrFloats:
		p.Floats = a.Floats
	case AttrInts:
		p.Ints = a.Ints
	case AttrStrings:
		for _, s := range a.Strings {
			p.Strings = append(p.Strings, []byte(s))
		}
	default:
		return nil, fmt.Errorf("attribute type %v has no value", a.Type)
	}
	return p, nil
}
