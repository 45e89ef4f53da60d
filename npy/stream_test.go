package npy

import (
	"path/filepath"
	"reflect"
	"testing"

	"amq/onnx"
)

// sameRows checks that rows [lo, hi) of a read on demand equal those of
// the whole array.
func sameRows(t *testing.T, what string, a *Array, whole *onnx.Tensor, lo, hi int) {
	t.Helper()
	got, err := a.Rows(lo, hi)
	if err != nil {
		t.Fatalf("%s rows [%d, %d): %v", what, lo, hi, err)
	}
	want, err := whole.Rows(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !reflect.DeepEqual(got.Data, want.Data) {
		t.Errorf("%s rows [%d, %d): got %v %v %v, want %v %v %v", what, lo, hi, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
	}
}

// TestRowsOnDemandEqualTheWholeArray reads NumPy's files (every type,
// big-endian float32 included) row by row and whole through Open and
// compares with ReadFile.
func TestRowsOnDemandEqualTheWholeArray(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"f32.npy", "f32_be.npy", "f64.npy", "i64.npy", "i32.npy", "i8.npy", "u8.npy", "bool.npy", "empty.npy"} {
		p := filepath.Join("testdata", file)
		whole, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n := whole.Shape[0]
		for lo := range n {
			sameRows(t, file, f.Array, whole, lo, lo+1)
		}
		sameRows(t, file, f.Array, whole, 0, n)
		if _, err := f.Rows(0, n+1); err == nil {
			t.Errorf("%s: rows beyond the array: no error", file)
		}
		f.Close()
	}
	f, err := Open(filepath.Join("testdata", "scalar.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Rows(0, 1); err == nil {
		t.Error("a scalar has no rows, but Rows read one")
	}
}

// TestNPZRowsOnDemandInAnyOrder reads the arrays of NumPy's savez and
// savez_compressed archives row by row, forward then backward (which
// decompresses a compressed array again), and compares with ReadNPZFile.
func TestNPZRowsOnDemandInAnyOrder(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"pair.npz", "pair_compressed.npz"} {
		p := filepath.Join("testdata", file)
		whole, err := ReadNPZFile(p)
		if err != nil {
			t.Fatal(err)
		}
		z, err := OpenNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(z.Arrays) != len(whole) {
			t.Errorf("%s: %d arrays, want %d", file, len(z.Arrays), len(whole))
		}
		for name, w := range whole {
			a := z.Arrays[name]
			if a == nil {
				t.Fatalf("%s: no array %q", file, name)
			}
			if len(w.Shape) == 0 {
				continue
			}
			n := w.Shape[0]
			for lo := range n {
				sameRows(t, file+":"+name, a, w, lo, lo+1)
			}
			for lo := n - 1; lo >= 0; lo-- {
				sameRows(t, file+":"+name, a, w, lo, lo+1)
			}
		}
		z.Close()
	}
}
