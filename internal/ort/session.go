//go:build cgo

package ort

import (
	"fmt"
	"os"
	"reflect"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"amq/onnx"
)

var (
	initOnce sync.Once
	initErr  error
)

// initEnv loads the library and creates ONNX Runtime's process-wide
// environment, once: the C library allows only one per process.
func initEnv() error {
	initOnce.Do(func() {
		if ortgo.IsInitialized() {
			return // someone in this process already did it
		}
		lib := LibraryPath()
		if _, err := os.Stat(lib); err != nil {
			initErr = fmt.Errorf("ort: ONNX Runtime library: %w (set ONNXRUNTIME_LIB or run scripts/fetch-ort.sh)", err)
			return
		}
		ortgo.SetSharedLibraryPath(lib)
		if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("ort: initializing ONNX Runtime from %s: %w", lib, err)
		}
	})
	return initErr
}

// Available loads ONNX Runtime if needed and reports why it cannot be used,
// or nil. Tests call it to decide whether to skip.
func Available() error { return initEnv() }

// Session is a model loaded in ONNX Runtime. Run is safe for concurrent use;
// Close must not run concurrently with Run.
type Session struct {
	name    string // model file, or a description of in-memory models
	sess    *ortgo.DynamicAdvancedSession
	inputs  []ortgo.InputOutputInfo
	outputs []ortgo.InputOutputInfo
}

// NewSession loads the model file at path (external data files are found
// relative to it).
func NewSession(path string, opt *Options) (*Session, error) {
	if err := initEnv(); err != nil {
		return nil, err
	}
	so, err := sessionOptions(opt)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	defer so.Destroy()
	ins, outs, err := ortgo.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	s, err := ortgo.NewDynamicAdvancedSession(path, names(ins), names(outs), so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	return &Session{name: path, sess: s, inputs: ins, outputs: outs}, nil
}

// NewSessionFromBytes loads a serialized model held in memory.
func NewSessionFromBytes(data []byte, opt *Options) (*Session, error) {
	return newSessionFromBytes(data, opt, fmt.Sprintf("in-memory model (%d bytes)", len(data)))
}

// NewSessionFromModel serializes m and loads it.
func NewSessionFromModel(m *onnx.Model, opt *Options) (*Session, error) {
	data, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("ort: serializing model: %w", err)
	}
	return newSessionFromBytes(data, opt, fmt.Sprintf("model graph %q", m.Graph.Name))
}

func newSessionFromBytes(data []byte, opt *Options, name string) (*Session, error) {
	if err := initEnv(); err != nil {
		return nil, err
	}
	so, err := sessionOptions(opt)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", name, err)
	}
	defer so.Destroy()
	ins, outs, err := ortgo.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", name, err)
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(data, names(ins), names(outs), so)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", name, err)
	}
	return &Session{name: name, sess: s, inputs: ins, outputs: outs}, nil
}

func sessionOptions(opt *Options) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if opt != nil && opt.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opt.Threads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("setting %d intra-op threads: %w", opt.Threads, err)
		}
		// Keep ORT from adding an inter-op pool on top of the limit.
		if err := so.SetInterOpNumThreads(1); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("setting inter-op threads: %w", err)
		}
	}
	if opt != nil && opt.NoOptimize {
		if err := so.SetGraphOptimizationLevel(ortgo.GraphOptimizationLevelDisableAll); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("disabling graph optimizations: %w", err)
		}
	}
	return so, nil
}

func names(infos []ortgo.InputOutputInfo) []string {
	n := make([]string, len(infos))
	for i, info := range infos {
		n[i] = info.Name
	}
	return n
}

// Inputs lists the names of the inputs Run needs, in model order.
func (s *Session) Inputs() []string { return names(s.inputs) }

// Outputs lists the graph output names, in model order.
func (s *Session) Outputs() []string { return names(s.outputs) }

// Run executes the model. inputs maps every input name to a tensor of the
// type the model declares; FLOAT, FLOAT16 (held widened as []float32),
// DOUBLE, the integer types and BOOL are supported. The result holds the
// outputs named in outputs, or all graph outputs when none is named. The
// result does not share memory with ONNX Runtime.
func (s *Session) Run(inputs map[string]*onnx.Tensor, outputs ...string) (map[string]*onnx.Tensor, error) {
	if s.sess == nil {
		return nil, fmt.Errorf("ort: %s: session is closed", s.name)
	}
	for name := range inputs {
		if !hasName(s.inputs, name) {
			return nil, fmt.Errorf("ort: %s: %q is not an input of the model (inputs: %v)", s.name, name, s.Inputs())
		}
	}
	for _, name := range outputs {
		if !hasName(s.outputs, name) {
			return nil, fmt.Errorf("ort: %s: %q is not an output of the model (outputs: %v)", s.name, name, s.Outputs())
		}
	}
	in := make([]ortgo.Value, len(s.inputs))
	out := make([]ortgo.Value, len(s.outputs))
	defer destroyAll(in)
	defer destroyAll(out)
	for i, info := range s.inputs {
		t, ok := inputs[info.Name]
		if !ok {
			return nil, fmt.Errorf("ort: %s: input %q is missing", s.name, info.Name)
		}
		if want := onnx.DataType(info.DataType); t.DType != want {
			return nil, fmt.Errorf("ort: %s: input %q is %v, the model wants %v", s.name, info.Name, t.DType, want)
		}
		v, err := toValue(t)
		if err != nil {
			return nil, fmt.Errorf("ort: %s: input %q: %w", s.name, info.Name, err)
		}
		in[i] = v
	}
	// onnxruntime_go cannot wrap a rank-0 result it allocates itself, so
	// outputs declared as scalars get a preallocated Scalar; nor a FLOAT16
	// one (it sizes the copy in elements, not bytes), so those get a
	// preallocated buffer of their declared shape.
	for i, info := range s.outputs {
		if info.OrtValueType != ortgo.ONNXTypeTensor || info.Dimensions == nil {
			continue
		}
		var v ortgo.Value
		var err error
		switch {
		case len(info.Dimensions) == 0:
			v, err = newScalarOutput(onnx.DataType(info.DataType))
		case onnx.DataType(info.DataType) == onnx.Float16:
			v, err = newFloat16Output(info.Dimensions)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ort: %s: output %q: %w", s.name, info.Name, err)
		}
		out[i] = v
	}
	if err := s.sess.Run(in, out); err != nil {
		return nil, fmt.Errorf("ort: %s: %w", s.name, err)
	}
	res := make(map[string]*onnx.Tensor, len(s.outputs))
	for i, info := range s.outputs {
		if len(outputs) > 0 && !contains(outputs, info.Name) {
			continue
		}
		t, err := fromValue(out[i])
		if err != nil {
			return nil, fmt.Errorf("ort: %s: output %q: %w", s.name, info.Name, err)
		}
		t.Name = info.Name
		res[info.Name] = t
	}
	return res, nil
}

// Close releases the ONNX Runtime session.
func (s *Session) Close() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	if err != nil {
		return fmt.Errorf("ort: %s: %w", s.name, err)
	}
	return nil
}

// destroyAll releases the ONNX Runtime values; result data was copied out.
// A failed Run can leave a typed nil in an output slot (an interface that
// is not nil around a nil pointer), which has nothing to release.
func destroyAll(vals []ortgo.Value) {
	for _, v := range vals {
		if v != nil && !reflect.ValueOf(v).IsNil() {
			v.Destroy()
		}
	}
}

func hasName(infos []ortgo.InputOutputInfo, name string) bool {
	for _, info := range infos {
		if info.Name == name {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
