package report

import (
	"fmt"
	"math"
)

// check refuses what the Markdown and plots cannot be made from, naming
// the layer and field: a report read from JSON may have been edited.
func (r *Report) check() error {
	for _, l := range r.Layers {
		if l.Name == "" {
			return fmt.Errorf("a layer has no name")
		}
		if d := l.DMQ; d != nil {
			n := len(d.XMax)
			for _, v := range []struct {
				field string
				x     []float64
			}{{"x_max_balanced", d.XMaxBalanced}, {"w_max", d.WMax}, {"w_max_balanced", d.WMaxBalanced}} {
				if len(v.x) != n {
					return fmt.Errorf("layer %q: dmq %s has %d channels, x_max %d", l.Name, v.field, len(v.x), n)
				}
				if err := finite(v.x); err != nil {
					return fmt.Errorf("layer %q: dmq %s: %w", l.Name, v.field, err)
				}
			}
			if err := finite(d.XMax); err != nil {
				return fmt.Errorf("layer %q: dmq x_max: %w", l.Name, err)
			}
		}
		if c := l.BiasCorrection; c != nil {
			if err := finite(c.Shift); err != nil {
				return fmt.Errorf("layer %q: bias_correction shift: %w", l.Name, err)
			}
		}
		if h := l.Histogram; h != nil {
			if err := h.check(); err != nil {
				return fmt.Errorf("layer %q: histogram: %w", l.Name, err)
			}
		}
	}
	return nil
}

func (h *Histogram) check() error {
	if err := finite([]float64{h.Lo, h.Width, h.ClipLo, h.ClipHi, h.Min, h.Max}); err != nil {
		return err
	}
	switch {
	case h.Width < 0:
		return fmt.Errorf("negative width %v", h.Width)
	case h.ClipLo > h.ClipHi:
		return fmt.Errorf("clip range [%v, %v] is empty", h.ClipLo, h.ClipHi)
	case len(h.Counts) > 1<<16:
		return fmt.Errorf("%d bins", len(h.Counts))
	}
	for i, c := range h.Counts {
		if c < 0 {
			return fmt.Errorf("bin %d: negative count %d", i, c)
		}
	}
	return nil
}

// finite fails on the first NaN or infinite value of x.
func finite(x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("value %d is %v", i, v)
		}
	}
	return nil
}
