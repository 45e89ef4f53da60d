package quant

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"amq/backend"
	"amq/onnx"
)

// AlphaSearch is amq's per-layer choice of the balance: instead of AMCT's
// one migration strength for every DMQ layer, the flow tries "no balance"
// (with IncludeNone) and every strength of Grid on each layer (or, with
// DMQOptions.Joint, each group of layers reading one tensor) and keeps the
// candidate whose quantized output is closest to the float output on the
// calibration data (docs/design.md "Per-layer α search"). The JSON quant
// config carries it under the layer's "amq_alpha_search" key.
type AlphaSearch struct {
	// Grid lists the migration strengths to try, each in [0, 1].
	Grid []float64
	// IncludeNone adds "no balance" to the candidates.
	IncludeNone bool
}

// DefaultAlphaSearch is what --alpha auto searches: no balance and
// α = 0, 0.05, ..., 0.95.
func DefaultAlphaSearch() *AlphaSearch {
	grid := make([]float64, 20)
	for i := range grid {
		grid[i] = float64(5*i) / 100 // exactly the double nearest 0.05·i
	}
	return &AlphaSearch{Grid: grid, IncludeNone: true}
}

// validate checks the settings; errors name the JSON key.
func (s *AlphaSearch) validate() error {
	if len(s.Grid) == 0 {
		return fmt.Errorf("key %q: \"grid\" is empty; give at least one migration strength in [0, 1]", alphaSearchKey)
	}
	for i, a := range s.Grid {
		if !(a >= 0 && a <= 1) {
			return fmt.Errorf("key %q: grid[%d] = %g is outside [0, 1]", alphaSearchKey, i, a)
		}
	}
	return nil
}

// clone returns a deep copy of s.
func (s *AlphaSearch) clone() *AlphaSearch {
	return &AlphaSearch{Grid: slices.Clone(s.Grid), IncludeNone: s.IncludeNone}
}

// alphaSearchKey is the layer key of the JSON quant config that holds an
// AlphaSearch; amq's own, hence the prefix.
const alphaSearchKey = "amq_alpha_search"

// UseAlphaSearch gives every enabled layer of c the balance search s in
// place of its dmq_balancer (what --alpha auto does). s is checked first;
// c is unchanged on error.
func (c *Config) UseAlphaSearch(s *AlphaSearch) error {
	if s == nil {
		return fmt.Errorf("no alpha search settings")
	}
	if err := s.validate(); err != nil {
		return err
	}
	for _, lc := range c.Layers {
		if lc != nil && lc.QuantEnable {
			lc.DMQ, lc.AlphaSearch = nil, s.clone()
		}
	}
	return nil
}

// AlphaChoice is what the α search chose for a layer; with Joint, the
// layers that read one tensor share one choice.
type AlphaChoice struct {
	// None reports that no balance was best; Alpha is then 0.
	None  bool
	Alpha float64
	// Layers are the layers chosen for together, in graph order.
	Layers []string
	// Rows is the number of activation rows (reservoir samples: vectors
	// of a Gemm/MatMul input, whole samples of a convolution's) the
	// candidates were evaluated on.
	Rows int
	// Candidates are every candidate in search order with its error.
	Candidates []AlphaCandidate
	// Local is the candidate of least error at the layers' own outputs;
	// None and Alpha differ from it where the check at the model's
	// outputs found better (Output).
	Local AlphaCandidate
	// Output is the check at the model's outputs, shared by every
	// unit's choice; nil when it did not run.
	Output *OutputCheck
}

// String is the choice as amq prints it: "none" or the strength.
func (c *AlphaChoice) String() string {
	return AlphaCandidate{None: c.None, Alpha: c.Alpha}.String()
}

// AlphaCandidate is one candidate of the α search.
type AlphaCandidate struct {
	None  bool    // no balance
	Alpha float64 // the migration strength, unless None
	// MSE is the mean squared difference between the layers' outputs
	// quantized with this candidate and in float, over the rows; +Inf
	// when the candidate could not be quantized (see Note).
	MSE float64
	// Note says why the candidate could not be quantized, if so.
	Note string
}

// String is "none" or the strength.
func (c AlphaCandidate) String() string {
	if c.None {
		return "none"
	}
	return strconv.FormatFloat(c.Alpha, 'g', -1, 64)
}

// searchUnit is one decision of the α search: a layer, or with Joint all
// searched layers that read one tensor, which then get one set of factors.
type searchUnit struct {
	key    obsKey
	set    *AlphaSearch
	layers []*searchLayer
	wmax   []float64 // max|W_j| per input channel, over the layers with Joint
	cands  []*searchCandidate
	choice *AlphaChoice
}

// searchLayer is a layer of a unit, with what the search needs of it.
type searchLayer struct {
	layer        *Layer
	lc           *LayerConfig
	node         *onnx.Node
	weight, bias *onnx.Tensor // bias nil without
	wmax         []float64
}

// searchCandidate is "no balance" or one migration strength of a unit.
type searchCandidate struct {
	none    bool
	alpha   float64
	factors []float32 // the record's factors; nil for no balance
	inv     []float32 // 1/s_j as the balance Mul holds it
	// scaleD and offsetD are each layer's activation factors.
	scaleD  []float32
	offsetD []int32
	sse     float64 // squared error summed over every output value
	n       int64   // output values summed
	err     error   // why the candidate could not be quantized
}

// searchUnits returns the α search's decisions for the enabled layers of
// cfg that have an amq_alpha_search, with settings, weights and act_algos
// checked before any batch runs. With joint, the layers that read one
// tensor form one unit and must share the settings.
func searchUnits(g *onnx.Graph, layers []*Layer, cfg *Config, joint bool) ([]*searchUnit, error) {
	var units []*searchUnit
	byKey := map[obsKey]*searchUnit{}
	for _, l := range layers {
		lc := cfg.Layers[l.Name]
		if lc == nil || !lc.QuantEnable || lc.AlphaSearch == nil {
			continue
		}
		if err := lc.AlphaSearch.validate(); err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		if err := checkSearchAlgo(lc.Act.Algo); err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		n, w, wmax, err := layerWeightMax(g, l)
		if err != nil {
			return nil, err
		}
		sl := &searchLayer{layer: l, lc: lc, node: n, weight: w, wmax: wmax}
		if b := n.Input(2); b != "" {
			if sl.bias, _ = g.Constant(b); sl.bias == nil {
				return nil, fmt.Errorf("layer %q: bias %q is not a constant", l.Name, b)
			}
		}
		k := obsKey{tensor: n.Inputs[0], axis: channelAxis(l.Type)}
		if u := byKey[k]; joint && u != nil {
			first := u.layers[0].layer.Name
			if !slices.Equal(u.set.Grid, lc.AlphaSearch.Grid) || u.set.IncludeNone != lc.AlphaSearch.IncludeNone {
				return nil, fmt.Errorf("layers %q and %q read tensor %q with different %s settings; joint factors need one", first, l.Name, k.tensor, alphaSearchKey)
			}
			if len(wmax) != len(u.wmax) {
				return nil, fmt.Errorf("layers %q and %q read tensor %q with %d and %d input channels", first, l.Name, k.tensor, len(u.wmax), len(wmax))
			}
			for j, v := range wmax {
				u.wmax[j] = max(u.wmax[j], v)
			}
			u.layers = append(u.layers, sl)
			continue
		}
		u := &searchUnit{key: k, set: lc.AlphaSearch, layers: []*searchLayer{sl}, wmax: slices.Clone(wmax)}
		byKey[k] = u
		units = append(units, u)
	}
	return units, nil
}

// name labels a unit in messages: its layer, or its first layer and tensor.
func (u *searchUnit) name() string {
	if len(u.layers) == 1 {
		return fmt.Sprintf("layer %q", u.layers[0].layer.Name)
	}
	return fmt.Sprintf("layers %q... (joint, tensor %q)", u.layers[0].layer.Name, u.key.tensor)
}

// candidates sets up the unit's candidates from the activation's channel
// maxima: no balance first (with IncludeNone), then the grid in order.
func (u *searchUnit) candidates(xmax []float64) error {
	if len(xmax) != len(u.wmax) {
		return fmt.Errorf("%s: activation %q has %d channels, the weight has %d input channels", u.name(), u.key.tensor, len(xmax), len(u.wmax))
	}
	u.cands = nil
	if u.set.IncludeNone {
		u.cands = append(u.cands, &searchCandidate{none: true})
	}
	for _, a := range u.set.Grid {
		s := BalanceFactors(xmax, u.wmax, a)
		inv := make([]float32, len(s))
		for j, f := range s {
			inv[j] = float32(1 / float64(f)) // as insertBalanceMul has it
		}
		u.cands = append(u.cands, &searchCandidate{alpha: a, factors: s, inv: inv})
	}
	return nil
}

// actFactors derives candidate c's scale_d and offset_d for each layer of
// the unit from the reservoir's rows, divided by c's factors as the
// balance Mul divides them (in float32): the rows go into a calibrator of
// the layer's act_algo (newSearchCalibrator) in one batch, so the result
// depends on the rows only. cr is the rows' range per channel
// (channelRanges); scratch holds the divided copy.
func (u *searchUnit) actFactors(c *searchCandidate, r *reservoir, cr channelRange, scratch *[]float32) error {
	x := r.data[:r.n*r.width]
	in := r.rows(0, r.n)
	if !c.none {
		if cap(*scratch) < len(x) {
			*scratch = make([]float32, len(x))
		}
		x = (*scratch)[:len(x)]
		divideRows(x, r.data[:len(x)], c.inv, r.width)
		in = onnx.NewTensor(in.Shape, x)
	}
	in.Name = u.key.tensor
	lo, hi, finite := cr.scaled(c.inv)
	if finite && (lo == 0 || hi == 0) {
		lo, hi, finite = extremes(x) // which zero, -0 or +0, is the extreme
	}
	c.scaleD, c.offsetD = make([]float32, len(u.layers)), make([]int32, len(u.layers))
	cals := map[string]ActCalibrator{}
	for i, sl := range u.layers {
		act := actParams(sl.layer, sl.lc)
		cal := cals[act.Algo]
		if cal == nil {
			var err error
			if cal, err = newSearchCalibrator(act.Algo); err != nil {
				return fmt.Errorf("layer %q: %w", sl.layer.Name, err)
			}
			if err := observeRows(cal, in, lo, hi, finite); err != nil {
				return fmt.Errorf("%s: %w", u.name(), err)
			}
			cals[act.Algo] = cal
		}
		sd, od, err := cal.ScaleOffset(act)
		if err != nil {
			return fmt.Errorf("layer %q: α %s: %w", sl.layer.Name, c, err)
		}
		c.scaleD[i], c.offsetD[i] = sd, od
	}
	return nil
}

// divideRows sets y to the rows x, of width values each, divided by the
// factors as the balance Mul divides them: channel j, width/len(inv)
// consecutive values of a row (one for Gemm/MatMul rows, the spatial size
// for samples), multiplied by inv[j] in float32.
func divideRows(y, x, inv []float32, width int) {
	inner := width / len(inv)
	for base := 0; base < len(x); base += width {
		row, out := x[base:base+width], y[base:base+width]
		if inner == 1 {
			for j, v := range row {
				out[j] = v * inv[j]
			}
			continue
		}
		for j, f := range inv {
			for i := j * inner; i < (j+1)*inner; i++ {
				out[i] = row[i] * f
			}
		}
	}
}

// channelRange is the least and greatest value of each channel of a
// reservoir's rows (a channel: width/len(lo) consecutive values of each
// row), unless finite is false: some value is not finite.
type channelRange struct {
	lo, hi []float32
	finite bool
}

// channelRanges is the channelRange of the rows x, of width values each,
// in channels channels.
func channelRanges(x []float32, width, channels int) channelRange {
	cr := channelRange{lo: make([]float32, channels), hi: make([]float32, channels), finite: true}
	for j := range channels {
		cr.lo[j], cr.hi[j] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	inner := width / channels
	for base := 0; base < len(x); base += width {
		for i, v := range x[base : base+width] {
			j := i / inner
			if v < cr.lo[j] {
				cr.lo[j] = v
			}
			if v > cr.hi[j] {
				cr.hi[j] = v
			}
			if v != v || math.IsInf(float64(v), 0) {
				cr.finite = false
			}
		}
	}
	return cr
}

// scaled returns the least and greatest of the rows multiplied by inv
// channel by channel in float32, as divideRows computes them (the rows
// themselves with inv nil), and whether they are all finite. A product
// by a positive float32 keeps the order of its operands, so each
// channel's extremes come from its own; a zero extreme does not say
// which zero, -0 or +0, it is.
func (cr channelRange) scaled(inv []float32) (lo, hi float64, finite bool) {
	if !cr.finite || len(cr.lo) == 0 {
		return 0, 0, false
	}
	l, h := float32(math.Inf(1)), float32(math.Inf(-1))
	for j := range cr.lo {
		a, b := cr.lo[j], cr.hi[j]
		if inv != nil {
			if !(inv[j] > 0) {
				return 0, 0, false
			}
			a, b = a*inv[j], b*inv[j]
		}
		l, h = min(l, a), max(h, b)
	}
	lo, hi = float64(l), float64(h)
	return lo, hi, !math.IsNaN(lo) && !math.IsNaN(hi) && !math.IsInf(lo, 0) && !math.IsInf(hi, 0)
}

// extremes returns the least and greatest of x, as Histogram.Add finds
// them, and whether every value is finite (the extremes mean nothing
// otherwise).
func extremes(x []float32) (lo, hi float64, finite bool) {
	l, h := float32(math.Inf(1)), float32(math.Inf(-1))
	nan := false
	for _, v := range x {
		if v < l {
			l = v
		}
		if v > h {
			h = v
		}
		nan = nan || v != v
	}
	lo, hi = float64(l), float64(h)
	if l == 0 || h == 0 {
		// Which zero is the extreme: -0 for min, +0 for max, as
		// Histogram.Add's min and max have it.
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range x {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
	}
	return lo, hi, !nan && !math.IsInf(lo, 0) && !math.IsInf(hi, 0)
}

// layerError is the candidate's mean squared error at its unit's layers,
// +Inf when it could not be evaluated.
func (c *searchCandidate) layerError() float64 {
	if c.err != nil || c.n == 0 {
		return math.Inf(1)
	}
	return c.sse / float64(c.n)
}

// chosen is the candidate of u.choice.
func (u *searchUnit) chosen() *searchCandidate {
	return u.cands[slices.IndexFunc(u.cands, func(c *searchCandidate) bool { return c.none == u.choice.None && c.alpha == u.choice.Alpha })]
}

// String names the candidate: "none" or its strength.
func (c *searchCandidate) String() string {
	return AlphaCandidate{None: c.none, Alpha: c.alpha}.String()
}

// alphaTie is the relative difference of MSE below which two candidates
// count as equal. Balancing a layer with one input channel, or channels
// alike, changes its float32 rounding only, which moves the MSE by about
// 1e-5; a choice among such candidates would be noise.
const alphaTie = 1e-4

// choose picks the candidate of least MSE, the first of those within
// alphaTie of it (no balance first, then the grid in order), and records
// the choice.
func (u *searchUnit) choose(rows int) error {
	ch := &AlphaChoice{Rows: rows}
	for _, sl := range u.layers {
		ch.Layers = append(ch.Layers, sl.layer.Name)
	}
	least := math.Inf(1)
	for _, c := range u.cands {
		ac := AlphaCandidate{None: c.none, Alpha: c.alpha, MSE: c.layerError()}
		if c.err != nil {
			ac.Note = c.err.Error()
		}
		least = min(least, ac.MSE)
		ch.Candidates = append(ch.Candidates, ac)
	}
	best := slices.IndexFunc(ch.Candidates, func(c AlphaCandidate) bool { return c.MSE <= least*(1+alphaTie) })
	if math.IsInf(least, 1) || best < 0 {
		return fmt.Errorf("%s: no candidate of the α search could be evaluated (%s: %s)", u.name(), ch.Candidates[0], ch.Candidates[0].Note)
	}
	ch.None, ch.Alpha = u.cands[best].none, u.cands[best].alpha
	ch.Local = ch.Candidates[best]
	u.choice = ch
	return nil
}

// searchEvalBytes bounds the memory of the α search's evaluation: the
// parameters of the candidates evaluated in one model, and the outputs of
// one run.
const searchEvalBytes = 256 << 20

// searchAlpha chooses every unit's balance from the activations' channel
// maxima and the reservoirs of their rows: for every candidate it derives
// the layers' activation factors from the rows (actFactors, the
// candidates of a unit in parallel), evaluates the candidates on the rows
// through b (evaluate, one unit at a time, overlapping the next unit's
// factors) and keeps the best.
func searchAlpha(m *onnx.Model, units []*searchUnit, xmax map[obsKey]*ChannelMax, res map[obsKey]*reservoir, b backend.Backend) error {
	most := 0
	for _, u := range units {
		if err := u.candidates(xmax[u.key].Max); err != nil {
			return err
		}
		if res[u.key].n == 0 {
			return fmt.Errorf("%s: no activation rows were observed", u.name())
		}
		most = max(most, len(u.cands))
	}
	ready := make(chan *searchUnit, len(units))
	done := make(chan error, 1)
	go func() {
		var err error
		for u := range ready {
			if err == nil {
				err = u.evaluate(b, m, res[u.key])
			}
			if err == nil {
				err = u.choose(res[u.key].n)
			}
		}
		done <- err
	}()
	scratch := make([][]float32, workers(most))
	for _, u := range units {
		r := res[u.key]
		cr := channelRanges(r.data[:r.n*r.width], r.width, len(u.wmax))
		err := parallel(len(u.cands), func(w, i int) error { return u.actFactors(u.cands[i], r, cr, &scratch[w]) })
		if err != nil {
			close(ready)
			<-done
			return fmt.Errorf("α search: %w", err)
		}
		ready <- u
	}
	close(ready)
	if err := <-done; err != nil {
		return fmt.Errorf("α search: %w", err)
	}
	return nil
}

// workers is the number of goroutines parallel uses for n jobs.
func workers(n int) int { return max(1, min(n, runtime.GOMAXPROCS(0))) }

// parallel runs f(w, i) for every i in [0, n) on workers(n) goroutines, w
// being the goroutine's number (for per-goroutine scratch), and returns the
// error of the least i that failed. Each job's result is its own, so the
// outcome does not depend on the scheduling.
func parallel(n int, f func(w, i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers(n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = f(w, i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
