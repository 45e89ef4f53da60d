package quant

import (
	"fmt"
	"slices"
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
