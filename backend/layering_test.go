package backend

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// deps returns the amq packages pkg imports, directly or not, in its
// non-test files (for this platform, with and without cgo).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, cgo := range []bool{true, false} {
			ctx := build.Default
			ctx.CgoEnabled = cgo
			bp, err := ctx.Import(p, "..", 0)
			if err != nil {
				t.Fatalf("import %s: %v", p, err)
			}
			for _, imp := range bp.Imports {
				if (imp == "amq" || strings.HasPrefix(imp, "amq/")) && !seen[imp] {
					seen[imp] = true
					walk(imp)
				}
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestImportsFlowOneWay checks the layering the project's README states:
// the flow reaches engines only through this package, and engines never
// reach the flow.
func TestImportsFlowOneWay(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"amq/backend", []string{"amq/quant", "amq/sim", "amq/cann", "amq/npy", "amq/cmd/amq"}},
		{"amq/quant", []string{"amq/sim", "amq/cann", "amq/dataset", "amq/cmd/amq"}},
		{"amq/dataset", []string{"amq/sim", "amq/cann", "amq/cmd/amq"}},
		{"amq/cann", []string{"amq/quant", "amq/sim", "amq/cmd/amq"}},
		{"amq/sim", []string{"amq/quant", "amq/cann", "amq/cmd/amq"}},
		{"amq/onnx", []string{"amq/backend", "amq/quant", "amq/sim", "amq/cann"}},
	}
	for _, r := range rules {
		d := deps(t, r.pkg)
		for _, f := range r.forbidden {
			if slices.Contains(d, f) {
				t.Errorf("%s imports %s (its amq imports: %v)", r.pkg, f, d)
			}
		}
	}
	// backend stands on onnx alone.
	allowed := append(deps(t, "amq/onnx"), "amq/onnx")
	for _, d := range deps(t, "amq/backend") {
		if !slices.Contains(allowed, d) {
			t.Errorf("amq/backend imports %s; it may import only onnx and what onnx imports", d)
		}
	}
}
