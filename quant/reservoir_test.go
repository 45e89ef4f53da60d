package quant

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// feed offers the rows of x (rows of width values, value = row index) to r
// in batches of the given numbers of rows.
func feed(t *testing.T, r *reservoir, rows, width int, batch int) {
	t.Helper()
	for lo := 0; lo < rows; lo += batch {
		hi := min(rows, lo+batch)
		x := make([]float32, (hi-lo)*width)
		for i := range x {
			x[i] = float32(lo + i/width)
		}
		if err := r.Observe(onnx.NewTensor([]int{hi - lo, 1, width}, x)); err != nil {
			t.Fatal(err)
		}
	}
}

// kept returns the row indices r holds, in slot order.
func kept(r *reservoir) []int {
	var out []int
	for k := range r.n {
		out = append(out, int(r.data[k*r.width]))
	}
	return out
}

func TestReservoirKeepsEveryRowBelowItsLimitInOrder(t *testing.T) {
	t.Parallel()
	r := newReservoir("x", false, 1)
	feed(t, r, 100, 3, 7)
	if got := kept(r); len(got) != 100 || !slices.IsSorted(got) || got[99] != 99 {
		t.Errorf("kept %v, want rows 0..99", got)
	}
	if r.limit != reservoirRows || len(r.data) != reservoirRows*3 {
		t.Errorf("limit %d with %d values allocated, want %d rows allocated at once", r.limit, len(r.data), reservoirRows)
	}
	if x := r.rows(10, 12); !slices.Equal(x.Shape, []int{2, 3}) || x.Floats()[3] != 11 {
		t.Errorf("rows(10, 12) = %v %v", x.Shape, x.Floats())
	}
}

// TestReservoirSampleDoesNotDependOnBatches: the same rows cut into other
// batches give the same sample, and a sample of a conv activation keeps
// whole samples.
func TestReservoirSampleDoesNotDependOnBatches(t *testing.T) {
	t.Parallel()
	const width = 3
	var ref []int
	for _, batch := range []int{1, 16, 999, 1000} {
		r := newReservoir("layer input", true, 1)
		r.maxRows = 100
		feed(t, r, 1000, width, batch)
		if r.limit != 100 {
			t.Fatalf("limit %d, want 100", r.limit)
		}
		got := kept(r)
		for k := range got {
			row := r.data[k*width : (k+1)*width]
			if row[0] != row[width-1] {
				t.Fatalf("slot %d mixes rows %v and %v", k, row[0], row[width-1])
			}
		}
		if ref == nil {
			ref = got
		} else if !slices.Equal(got, ref) {
			t.Errorf("batches of %d keep %v, batches of 1 keep %v", batch, got, ref)
		}
	}
	other := newReservoir("another tensor", true, 1)
	other.maxRows = 100
	feed(t, other, 1000, width, 50)
	if slices.Equal(kept(other), ref) {
		t.Error("two tensors' reservoirs drew the same sample: the seed ignores the name")
	}
}

// TestReservoirSamplesUniformly: over many tensors (seeds), each of 50 rows
// is kept in a reservoir of 10 with probability 1/5.
func TestReservoirSamplesUniformly(t *testing.T) {
	t.Parallel()
	const rows, trials, width = 50, 4000, 2
	counts := make([]int, rows)
	x := make([]float32, rows*width)
	for i := range x {
		x[i] = float32(i / width)
	}
	in := onnx.NewTensor([]int{rows, width}, x)
	for s := range trials {
		r := newReservoir(fmt.Sprintf("tensor %d", s), false, 1)
		r.maxRows = 10
		if err := r.Observe(in); err != nil {
			t.Fatal(err)
		}
		for _, i := range kept(r) {
			counts[i]++
		}
	}
	mean, sd := trials*0.2, math.Sqrt(trials*0.2*0.8)
	for i, c := range counts {
		if math.Abs(float64(c)-mean) > 5*sd {
			t.Errorf("row %d kept %d times in %d trials, want %.0f ± %.0f", i, c, trials, mean, 5*sd)
		}
	}
}

func TestReservoirRefusesRowsOfAnotherShape(t *testing.T) {
	t.Parallel()
	r := newReservoir("x", true, 1)
	if err := r.Observe(onnx.NewTensor([]int{2, 3, 4}, make([]float32, 24))); err != nil {
		t.Fatal(err)
	}
	err := r.Observe(onnx.NewTensor([]int{2, 3, 5}, make([]float32, 30)))
	if err == nil || !strings.Contains(err.Error(), "[3 5], earlier batches had [3 4]") {
		t.Errorf("err = %v, want the two shapes", err)
	}
}

func TestReservoirBoundsItsValues(t *testing.T) {
	t.Parallel()
	r := newReservoir("x", true, 1)
	if err := r.Observe(onnx.NewTensor([]int{1, 3, 1000}, make([]float32, 3000))); err != nil {
		t.Fatal(err)
	}
	if want := reservoirValues / 3000; r.limit != want || len(r.data) != want*3000 {
		t.Errorf("rows of 3000 values: limit %d (%d values), want %d rows", r.limit, len(r.data), want)
	}
	r = newReservoir("x", false, 1000)
	if err := r.Observe(onnx.NewTensor([]int{1, 3, 1000}, make([]float32, 3000))); err != nil {
		t.Fatal(err)
	}
	if want := reservoirTotal / 1000 / 1000; r.limit != want {
		t.Errorf("one of 1000 reservoirs, rows of 1000 values: limit %d rows, want %d", r.limit, want)
	}
}
