package cann

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"amq/backend"
	"amq/onnx"
)

// Options configures the Ascend backend. Zero values pick the defaults.
type Options struct {
	// Devices are the NPU ids to run on; batches are spread over them.
	// Default: device 0.
	Devices []int
	// SocVersion is ATC's --soc_version. Default: $AMQ_SOC_VERSION, else
	// aclrtGetSocName(), else the chip `npu-smi info` reports.
	SocVersion string
	// ATC is the ATC command. Default: $AMQ_ATC, else "atc" on PATH
	// (scripts/atc.sh is a wrapper that sets up CANN's environment first).
	ATC string
	// CacheDir holds compiled .om files, keyed by a hash of the model and
	// the ATC arguments. Default: $AMQ_CACHE_DIR, else <user cache>/amq/om.
	CacheDir string
	// Library is the path of libascendcl.so (default search otherwise).
	Library string
	// Precision is ATC's --precision_mode; the default passes none, so
	// ATC's own default applies (force_fp16 for inference).
	Precision backend.Precision
}

// The Ascend backend, opened by name through package backend. Devices come
// from Options.Devices, else from $AMQ_DEVICES ("0" or "0,1", for board
// scripts), else device 0.
func init() {
	backend.Register("ascend", func(opt backend.Options) (backend.Backend, error) {
		devs := opt.Devices
		if devs == nil {
			env := strings.TrimSpace(os.Getenv("AMQ_DEVICES"))
			if env == "" {
				env = "0"
			}
			var err error
			if devs, err = backend.ParseDevices(env); err != nil {
				return nil, fmt.Errorf("AMQ_DEVICES: %w", err)
			}
		}
		if _, err := backend.ParsePrecision(string(opt.Precision)); err != nil {
			return nil, fmt.Errorf("ascend: %w", err)
		}
		return New(Options{Devices: devs, Precision: opt.Precision}), nil
	})
}

// Backend runs models on Ascend NPUs. It implements backend.Backend and
// backend.Concurrent.
type Backend struct {
	opt Options
}

// New returns a Backend. Nothing is loaded until Prepare.
func New(opt Options) *Backend {
	if len(opt.Devices) == 0 {
		opt.Devices = []int{0}
	}
	return &Backend{opt: opt}
}

// Concurrency is the number of devices: calibration keeps one batch in
// flight per device.
func (b *Backend) Concurrency() int { return len(b.opt.Devices) }

// CompilesPerShape is true: ATC compiles the model for each set of input
// shapes (see Prepare).
func (b *Backend) CompilesPerShape() bool { return true }

var _ backend.ShapeCompiler = (*Backend)(nil)

var (
	_ backend.Backend    = (*Backend)(nil)
	_ backend.Concurrent = (*Backend)(nil)
)

// resolve fills in the defaults that need the loaded library.
func (b *Backend) resolve() (soc, atc, cache string, err error) {
	soc = b.opt.SocVersion
	if soc == "" {
		soc = os.Getenv("AMQ_SOC_VERSION")
	}
	if soc == "" {
		soc, _ = SocName()
	}
	if soc == "" {
		if soc, err = socFromNpuSmi(); err != nil {
			return "", "", "", fmt.Errorf("cannot tell the SoC version for ATC (set AMQ_SOC_VERSION, e.g. Ascend310P3): %w", err)
		}
	}
	atc = b.opt.ATC
	if atc == "" {
		atc = os.Getenv("AMQ_ATC")
	}
	if atc == "" {
		atc = "atc"
	}
	if atc, err = exec.LookPath(atc); err != nil {
		return "", "", "", fmt.Errorf("ATC not found (install CANN's toolkit and source set_env.sh, or set AMQ_ATC): %w", err)
	}
	cache = b.opt.CacheDir
	if cache == "" {
		cache = os.Getenv("AMQ_CACHE_DIR")
	}
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", "", "", fmt.Errorf("no cache directory for .om files (set AMQ_CACHE_DIR): %w", err)
		}
		cache = filepath.Join(dir, "amq", "om")
	}
	return soc, atc, cache, nil
}

// Prepare loads the ACL library, opens every device and returns a Runner.
// The model is compiled by ATC on the first batch of each input shape
// (ATC needs static shapes); the .om is cached across runs.
func (b *Backend) Prepare(m *onnx.Model, observe []string) (backend.Runner, error) {
	if _, err := Open(b.opt.Library); err != nil {
		return nil, fmt.Errorf("ascend: %w", err)
	}
	n, err := DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("ascend: %w", err)
	}
	seen := map[int]bool{}
	for _, d := range b.opt.Devices {
		if d < 0 || d >= n {
			return nil, fmt.Errorf("ascend: device %d does not exist (%d device(s) found)", d, n)
		}
		if seen[d] {
			return nil, fmt.Errorf("ascend: device %d listed twice", d)
		}
		seen[d] = true
	}
	soc, atc, cache, err := b.resolve()
	if err != nil {
		return nil, fmt.Errorf("ascend: %w", err)
	}
	g := m.Graph
	var want []string
	dup := map[string]bool{}
	for _, t := range observe {
		if !dup[t] {
			dup[t] = true
			want = append(want, t)
		}
	}
	for _, o := range g.Outputs {
		if !dup[o.Name] {
			dup[o.Name] = true
			want = append(want, o.Name)
		}
	}
	outs, host, err := OutNodes(g, want)
	if err != nil {
		return nil, fmt.Errorf("ascend: observe: %w", err)
	}
	data, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("ascend: %w", err)
	}
	r := &runner{
		graph:    g,
		data:     data,
		outs:     outs,
		host:     host,
		soc:      soc,
		prec:     b.opt.Precision,
		comp:     &compiler{atc: atc, cacheDir: cache},
		oms:      map[string]string{},
		idle:     make(chan *worker, len(b.opt.Devices)),
		outTypes: make([]onnx.DataType, len(outs)),
	}
	for i, o := range outs {
		r.outTypes[i] = tensorType(g, o.Tensor)
	}
	for _, d := range b.opt.Devices {
		w, err := startWorker(d)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("ascend: device %d: %w", d, err)
		}
		r.workers = append(r.workers, w)
		r.idle <- w
	}
	return r, nil
}

// tensorType is the element type the graph declares for a tensor, or
// Undefined.
func tensorType(g *onnx.Graph, name string) onnx.DataType {
	for _, o := range g.Outputs {
		if o.Name == name {
			return o.DType
		}
	}
	if vi, ok := g.ValueInfo[name]; ok && vi.DType != onnx.Undefined {
		return vi.DType
	}
	// Without shape inference, the Ascend operators still tell their types.
	if p := g.Producer(name); p != nil && p.Domain == "" {
		switch p.OpType {
		case "AscendQuant":
			return onnx.Int8
		case "AscendDequant", "AscendAntiQuant":
			return onnx.Float
		}
	}
	return onnx.Undefined
}

// runner executes batches on the devices. Run may be called concurrently;
// each call takes an idle device.
type runner struct {
	graph    *onnx.Graph
	data     []byte
	outs     []OutNode
	outTypes []onnx.DataType
	host     []string
	soc      string
	prec     backend.Precision
	comp     *compiler

	mu  sync.Mutex
	oms map[string]string // shape key -> .om path

	idle    chan *worker
	workers []*worker
}

// inputNames lists the graph's inputs by name, in the graph's order.
func (r *runner) inputNames() []string {
	names := make([]string, len(r.graph.Inputs))
	for i, in := range r.graph.Inputs {
		names[i] = in.Name
	}
	return names
}

// omFor compiles (or finds in the cache) the model for these input shapes.
func (r *runner) omFor(ctx context.Context, shapes map[string][]int) (string, error) {
	key := shapeKey(shapes)
	r.mu.Lock()
	defer r.mu.Unlock()
	if om, ok := r.oms[key]; ok {
		return om, nil
	}
	args := ATCArgs(r.soc, shapes, r.inputNames(), r.outs, r.prec)
	om, err := r.comp.compile(ctx, r.data, args)
	if err != nil {
		return "", err
	}
	r.oms[key] = om
	return om, nil
}

// Run executes one batch on an idle device.
func (r *runner) Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return r.RunContext(context.Background(), inputs)
}

var _ backend.ContextRunner = (*runner)(nil)

// RunContext is Run stopped by ctx between executions: a cancelled ctx
// stops ATC if it is compiling the batch's shapes and stops waiting for an
// idle device; an execution under way finishes (ACL cannot abort it).
// Device resources stay with the runner until Close, which frees them all
// whether or not a run was cancelled.
func (r *runner) RunContext(ctx context.Context, inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	shapes := map[string][]int{}
	for _, in := range r.graph.Inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("ascend: input %q is missing", in.Name)
		}
		shapes[in.Name] = t.Shape
	}
	if len(inputs) != len(r.graph.Inputs) {
		for name := range inputs {
			if _, ok := shapes[name]; !ok {
				return nil, fmt.Errorf("ascend: %q is not an input of the model", name)
			}
		}
	}
	om, err := r.omFor(ctx, shapes)
	if err != nil {
		return nil, fmt.Errorf("ascend: %w", err)
	}
	var w *worker
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case idle, ok := <-r.idle:
		if !ok {
			return nil, errors.New("ascend: runner is closed")
		}
		w = idle
	}
	if err := ctx.Err(); err != nil {
		r.idle <- w
		return nil, err
	}
	defer func() { r.idle <- w }()
	var res map[string]*onnx.Tensor
	err = w.do(func(s *session) error {
		var err error
		res, err = r.execute(w, s, om, inputs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ascend: device %d: %w", w.device, err)
	}
	for _, name := range r.host {
		if t, ok := inputs[name]; ok {
			res[name] = t
		} else if c, ok := r.graph.Constant(name); ok {
			res[name] = c
		}
	}
	return res, nil
}

// load loads the .om on the worker's device (once) and maps its inputs and
// outputs to the graph's by name.
func (r *runner) load(w *worker, s *session, om string) (*loadedModel, error) {
	if l, ok := w.models[om]; ok {
		return l, nil
	}
	m, err := s.loadFile(om)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", om, err)
	}
	names := func(ios []IO) []string {
		n := make([]string, len(ios))
		for i, io := range ios {
			n[i] = io.Name
		}
		return n
	}
	io, err := mapIO(om, names(m.inputs), r.inputNames(), names(m.outputs), r.outs)
	if err != nil {
		if uerr := m.unload(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unloading %s: %w", om, uerr))
		}
		return nil, err
	}
	l := &loadedModel{model: m, io: io}
	w.models[om] = l
	return l, nil
}

// execute runs on the worker's thread.
func (r *runner) execute(w *worker, s *session, om string, inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	l, err := r.load(w, s, om)
	if err != nil {
		return nil, err
	}
	m := l.model
	in := make([][]byte, len(m.inputs))
	for i, io := range m.inputs {
		t := inputs[r.graph.Inputs[l.io.inputs[i]].Name]
		dt, err := ONNXType(io.ACLType)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", io.Name, err)
		}
		b, err := Encode(t, dt)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", io.Name, err)
		}
		if len(b) != io.Size {
			return nil, fmt.Errorf("input %q: shape %v gives %d bytes, the compiled model expects %d (dims %v)", io.Name, t.Shape, len(b), io.Size, io.Dims)
		}
		in[i] = b
	}
	out := make([][]byte, len(m.outputs))
	for i, io := range m.outputs {
		out[i] = make([]byte, io.Size)
	}
	if err := m.execute(in, out); err != nil {
		return nil, err
	}
	res := make(map[string]*onnx.Tensor, len(out)+len(r.host))
	for i, io := range m.outputs {
		k := l.io.outputs[i]
		name := r.outs[k].Tensor
		dt, err := ONNXType(io.ACLType)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		shape := make([]int, len(io.Dims))
		for d, v := range io.Dims {
			shape[d] = int(v)
		}
		t, err := Decode(out[i], dt, shape)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		// --output_type=FP32 widens integer tensors (AscendQuant's int8);
		// give them back their graph type so results compare with sim.
		if want := r.outTypes[k]; want != onnx.Undefined && want != dt && want != onnx.Float16 && want.Size() > 0 {
			if t, err = Convert(t, want); err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
		}
		t.Name = name
		res[name] = t
	}
	return res, nil
}

// Close unloads the models and closes every device. It must not be called
// while Run is in progress.
func (r *runner) Close() error {
	var errs []error
	for _, w := range r.workers {
		if err := w.close(); err != nil {
			errs = append(errs, fmt.Errorf("ascend: device %d: %w", w.device, err))
		}
	}
	if r.workers != nil {
		close(r.idle) // a later Run fails instead of waiting for a device
	}
	r.workers = nil
	return errors.Join(errs...)
}

// worker drives one device from one goroutine locked to its OS thread, on
// which the device's ACL context is current.
type worker struct {
	device   int
	jobs     chan func(*session)
	done     chan struct{}
	closeErr error
	models   map[string]*loadedModel // .om path -> loaded model; worker goroutine only
}

// loadedModel is a model loaded on a worker's device, with its I/O matched
// to the graph's.
type loadedModel struct {
	*model
	io ioMap
}

func startWorker(device int) (*worker, error) {
	w := &worker{device: device, jobs: make(chan func(*session)), done: make(chan struct{}), models: map[string]*loadedModel{}}
	started := make(chan error, 1)
	go func() {
		// The thread stays locked until the goroutine exits, which then
		// ends the thread: no other goroutine ever runs with this context.
		runtime.LockOSThread()
		defer close(w.done)
		s, err := openSession(device)
		started <- err
		if err != nil {
			return
		}
		for job := range w.jobs {
			job(s)
		}
		var errs []error
		for path, m := range w.models {
			if err := m.unload(); err != nil {
				errs = append(errs, fmt.Errorf("unloading %s: %w", path, err))
			}
		}
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
		w.closeErr = errors.Join(errs...)
	}()
	if err := <-started; err != nil {
		<-w.done
		return nil, err
	}
	return w, nil
}

// do runs f on the worker's thread and waits for it.
func (w *worker) do(f func(*session) error) error {
	errc := make(chan error, 1)
	w.jobs <- func(s *session) { errc <- f(s) }
	return <-errc
}

func (w *worker) close() error {
	close(w.jobs)
	<-w.done
	return w.closeErr
}
