package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"amq/onnx/onnxpb"
)

// maxModelFile is the largest model file amq reads: a protobuf message
// cannot exceed 2 GiB, larger models keep their tensors in external files.
const maxModelFile = 2<<30 - 1

// mapMin is the size from which LoadFile maps a model or external data
// file instead of reading it into memory the garbage collector manages
// (docs/design.md "Loading large models"). A variable for tests.
var mapMin int64 = 64 << 20

// aliasMin is the size from which an initializer's raw_data is used where
// the file's bytes lie instead of being copied by protobuf decoding.
const aliasMin = 4096

// LoadFile reads an ONNX model from path. Tensors stored as external data
// are read from files next to the model; a location that leaves the
// model's folder is an error.
//
// Float, integer and double tensors use the file's bytes in place (no
// decoding, no copy), and files of 64 MiB and more are memory-mapped
// privately: a tensor changed in place changes the process's copy of its
// page, never the file. Such mappings last as long as the process.
func LoadFile(path string) (*Model, error) { return loadFile(path, aliasRaw) }

// LoadFileHalves is LoadFile that also keeps FLOAT16 and BFLOAT16
// initializers of 4 KiB and more as they are stored, 16 bits an element
// in the file's bytes (Data is Halves), instead of widening them to
// float32: for executors whose kernels widen per tile (sim's MatMul and
// Gather), so that a float16 model is held in its own size (docs/design.md
// "Loading large models"). Callers must accept Halves wherever they read a
// float tensor's elements, or widen them (Tensor.Widened).
func LoadFileHalves(path string) (*Model, error) { return loadFile(path, aliasHalves) }

func loadFile(path string, mode aliasMode) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxModelFile {
		return nil, fmt.Errorf("%s: %d bytes is larger than a protobuf message can be (2 GiB); store large tensors as external data", path, st.Size())
	}
	data, err := readFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := load(data, filepath.Dir(path), mode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Size() >= mapMin {
		m.mapped = append(m.mapped, data)
		registerMapping(data)
	}
	return m, nil
}

// readFile returns the size bytes of f: mapped from mapMin bytes on, else
// read into one buffer of exactly that size.
func readFile(f *os.File, size int64) ([]byte, error) {
	if size >= mapMin {
		return mapFile(f, size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Load decodes a model from its serialized bytes, which it copies (they
// may be read-only, as embedded files are). A model with external data
// must be loaded with LoadFile.
func Load(data []byte) (*Model, error) { return load(data, "", copyRaw) }

// load decodes data; with a mode other than copyRaw, data belongs to the
// model from now on and large tensors alias it instead of being copied.
func load(data []byte, dir string, mode aliasMode) (*Model, error) {
	msg, raws := data, strippedRaws{}
	if mode != copyRaw {
		if c, r, ok := stripRawData(data, aliasMin); ok {
			msg, raws = c, r
		}
	}
	var p onnxpb.ModelProto
	if err := proto.Unmarshal(msg, &p); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if p.Graph == nil {
		return nil, errors.New("not an ONNX model: no graph")
	}
	for i, raw := range raws.inits {
		if raw != nil && i < len(p.Graph.Initializer) {
			p.Graph.Initializer[i].RawData = raw
		}
	}
	for at, raw := range raws.attrs {
		if at.node < len(p.Graph.Node) && at.attr < len(p.Graph.Node[at.node].Attribute) {
			if t := p.Graph.Node[at.node].Attribute[at.attr].T; t != nil {
				t.RawData = raw
			}
		}
	}
	ext := &extReader{dir: dir, files: map[string]*extFile{}}
	defer ext.close()
	m, err := fromProto(&p, ext.read, mode)
	if err != nil {
		return nil, err
	}
	for _, x := range ext.files {
		if x.data != nil {
			m.mapped = append(m.mapped, x.data)
		}
	}
	return m, nil
}

// extReader reads external tensor data, confined to the model's folder.
// Every buffer it returns is the model's own: mapped from the file (from
// mapMin bytes on) or read for the one tensor.
type extReader struct {
	dir   string
	files map[string]*extFile
}

// extFile is an open external data file and, when it is large, its mapping.
type extFile struct {
	f    *os.File
	size int64
	data []byte // the mapped file; nil when tensors are read one by one
}

func (e *extReader) close() {
	for _, x := range e.files {
		x.f.Close()
	}
}

func (e *extReader) read(p *onnxpb.TensorProto, size int) ([]byte, error) {
	if e.dir == "" {
		return nil, errors.New("data is stored externally; load the model from its file")
	}
	var loc string
	offset, length := int64(0), int64(-1)
	for _, kv := range p.ExternalData {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s: %w", kv.GetKey(), err)
		}
	}
	if loc == "" {
		return nil, errors.New("external data has no location")
	}
	if filepath.IsAbs(loc) || !filepath.IsLocal(filepath.FromSlash(loc)) {
		return nil, fmt.Errorf("external data location %q leaves the model's folder", loc)
	}
	path := filepath.Join(e.dir, filepath.FromSlash(loc))
	// A symbolic link must not lead out of the folder either.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		rdir, err2 := filepath.EvalSymlinks(e.dir)
		if err2 == nil {
			if rel, err := filepath.Rel(rdir, real); err != nil || !filepath.IsLocal(rel) {
				return nil, fmt.Errorf("external data location %q leads out of the model's folder", loc)
			}
		}
	}
	if offset < 0 {
		return nil, fmt.Errorf("external data offset %d is negative", offset)
	}
	if length >= 0 && length != int64(size) {
		return nil, fmt.Errorf("external data length %d, want %d bytes for the tensor's shape", length, size)
	}
	x, ok := e.files[path]
	if !ok {
		var err error
		if x, err = openExternal(path); err != nil {
			return nil, fmt.Errorf("external data %q: %w", loc, err)
		}
		e.files[path] = x
	}
	// Written so that a huge offset cannot overflow the sum.
	if int64(size) > x.size || offset > x.size-int64(size) {
		return nil, fmt.Errorf("external data %q: bytes %d..%d are past the end of the file (%d bytes)", loc, offset, offset+int64(size), x.size)
	}
	if x.data != nil {
		return x.data[offset : offset+int64(size) : offset+int64(size)], nil
	}
	buf := make([]byte, size)
	if _, err := x.f.ReadAt(buf, offset); err != nil {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	return buf, nil
}

// openExternal opens an external data file, mapping it when it is large.
func openExternal(path string) (*extFile, error) {
	// Stat first: opening a FIFO or device would block or never end.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	x := &extFile{f: f, size: st.Size()}
	if x.size >= mapMin {
		if x.data, err = mapFile(f, x.size); err != nil {
			f.Close()
			return nil, err
		}
		registerMapping(x.data)
	}
	return x, nil
}

// FromProto converts a ModelProto to the IR. ext reads external tensor
// data; it may be nil when the model has none. The model's tensors are
// copies: p can change afterwards.
func FromProto(p *onnxpb.ModelProto, ext func(*onnxpb.TensorProto, int) ([]byte, error)) (*Model, error) {
	return fromProto(p, ext, copyRaw)
}

// fromProto is FromProto; with alias, tensors may use p's raw_data and the
// bytes ext returns in place.
func fromProto(p *onnxpb.ModelProto, ext func(*onnxpb.TensorProto, int) ([]byte, error), alias aliasMode) (*Model, error) {
	m := &Model{
		IRVersion:       p.GetIrVersion(),
		Opsets:          map[string]int64{},
		ProducerName:    p.GetProducerName(),
		ProducerVersion: p.GetProducerVersion(),
		Domain:          p.GetDomain(),
		ModelVersion:    p.GetModelVersion(),
		DocString:       p.GetDocString(),
	}
	for _, o := range p.OpsetImport {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		m.Opsets[d] = o.GetVersion()
	}
	if len(p.MetadataProps) > 0 {
		m.Metadata = map[string]string{}
		for _, kv := range p.MetadataProps {
			m.Metadata[kv.GetKey()] = kv.GetValue()
		}
	}
	if len(p.Functions) > 0 || len(p.TrainingInfo) > 0 || len(p.ProtoReflect().GetUnknown()) > 0 {
		m.rest = &onnxpb.ModelProto{Functions: p.Functions, TrainingInfo: p.TrainingInfo}
		m.rest.ProtoReflect().SetUnknown(p.ProtoReflect().GetUnknown())
	}
	g, err := graphFromProto(p.Graph, ext, alias)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

func graphFromProto(p *onnxpb.GraphProto, ext func(*onnxpb.TensorProto, int) ([]byte, error), alias aliasMode) (*Graph, error) {
	g := &Graph{
		Name:         p.GetName(),
		DocString:    p.GetDocString(),
		Initializers: map[string]*Tensor{},
		ValueInfo:    map[string]*ValueInfo{},
	}
	for _, tp := range p.Initializer {
		t, err := tensorFromProto(tp, ext, alias)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", tp.GetName(), err)
		}
		if t.Name == "" {
			return nil, errors.New("an initializer has no name")
		}
		g.Initializers[t.Name] = t
	}
	if len(p.SparseInitializer) > 0 {
		return nil, fmt.Errorf("sparse initializer %q: sparse tensors are not supported", p.SparseInitializer[0].GetValues().GetName())
	}
	for _, vp := range p.Input {
		vi, err := valueInfoFromProto(vp)
		if err != nil {
			return nil, err
		}
		if _, isInit := g.Initializers[vi.Name]; isInit {
			if g.initInputs == nil {
				g.initInputs = map[string]*ValueInfo{}
			}
			g.initInputs[vi.Name] = vi
			continue
		}
		g.Inputs = append(g.Inputs, vi)
	}
	for _, vp := range p.Output {
		vi, err := valueInfoFromProto(vp)
		if err != nil {
			return nil, err
		}
		g.Outputs = append(g.Outputs, vi)
	}
	for _, vp := range p.ValueInfo {
		vi, err := valueInfoFromProto(vp)
		if err != nil {
			return nil, err
		}
		g.ValueInfo[vi.Name] = vi
	}
	for i, np := range p.Node {
		n := &Node{
			Name:      np.GetName(),
			OpType:    np.GetOpType(),
			Domain:    np.GetDomain(),
			Inputs:    append([]string(nil), np.Input...),
			Outputs:   append([]string(nil), np.Output...),
			DocString: np.GetDocString(),
		}
		if n.Domain == "ai.onnx" {
			n.Domain = ""
		}
		if n.OpType == "" {
			return nil, fmt.Errorf("node %d (%q) has no op_type", i, n.Name)
		}
		for _, ap := range np.Attribute {
			a, err := attrFromProto(ap, alias)
			if err != nil {
				return nil, fmt.Errorf("node %q (%s) attribute %q: %w", n.Name, n.OpType, ap.GetName(), err)
			}
			if n.Attrs == nil {
				n.Attrs = map[string]*Attr{}
			}
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.nameNodes()
	if err := g.TopoSort(); err != nil {
		return nil, err
	}
	return g, nil
}

// maxRank bounds the rank a value info may declare.
const maxRank = 64

func valueInfoFromProto(p *onnxpb.ValueInfoProto) (*ValueInfo, error) {
	vi := &ValueInfo{Name: p.GetName()}
	tt := p.GetType().GetTensorType()
	if tt == nil {
		return vi, nil
	}
	vi.DType = DataType(tt.GetElemType())
	if tt.Shape == nil {
		return vi, nil
	}
	if len(tt.Shape.Dim) > maxRank {
		return nil, fmt.Errorf("value %q: rank %d is larger than %d", vi.Name, len(tt.Shape.Dim), maxRank)
	}
	vi.Shape = make([]Dim, len(tt.Shape.Dim))
	for i, d := range tt.Shape.Dim {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			vi.Shape[i] = Dim{Value: v.DimValue}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			vi.Shape[i] = Dim{Value: -1, Param: v.DimParam}
		default:
			vi.Shape[i] = Dim{Value: -1}
		}
	}
	return vi, nil
}

// attrFromProto decodes an attribute. A TENSOR attribute's elements may
// use its raw_data in place as alias allows, float16 ones excepted: ops
// read a Constant's value as float32.
func attrFromProto(p *onnxpb.AttributeProto, alias aliasMode) (*Attr, error) {
	a := &Attr{Name: p.GetName(), Type: AttrType(p.GetType())}
	if p.GetRefAttrName() != "" {
		return nil, errors.New("attribute references are only valid inside functions")
	}
	if p.Type == nil {
		// IR version 1 files may omit the type; infer it from the set field.
		switch {
		case p.F != nil:
			a.Type = AttrFloat
		case p.I != nil:
			a.Type = AttrInt
		case p.S != nil:
			a.Type = AttrString
		case p.T != nil:
			a.Type = AttrTensor
		case len(p.Floats) > 0:
			a.Type = AttrFloats
		case len(p.Ints) > 0:
			a.Type = AttrInts
		case len(p.Strings) > 0:
			a.Type = AttrStrings
		}
	}
	switch a.Type {
	case AttrFloat:
		a.F = p.GetF()
	case AttrInt:
		a.I = p.GetI()
	case AttrString:
		a.S = string(p.GetS())
	case AttrTensor:
		if p.T == nil {
			return nil, errors.New("TENSOR attribute has no tensor")
		}
		t, err := tensorFromProto(p.T, nil, min(alias, aliasRaw))
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", p.T.GetName(), err)
		}
		a.T = t
	case AttrFloats:
		a.Floats = append([]float32{}, p.Floats...)
	case AttrInts:
		a.Ints = append([]int64{}, p.Ints...)
	case AttrStrings:
		a.Strings = make([]string, len(p.Strings))
		for i, s := range p.Strings {
			a.Strings[i] = string(s)
		}
	default:
		a.Proto = p
	}
	return a, nil
}
