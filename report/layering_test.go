package report

import (
	"go/build"
	"strings"
	"testing"
)

// TestQuantKnowsNothingOfReports: quant exposes the data and never imports
// this package or the plotting library, so that the flow stays free of
// presentation.
func TestQuantKnowsNothingOfReports(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		bp, err := build.Default.Import(p, ".", 0)
		if err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
		for _, imp := range bp.Imports {
			if imp == "amq/report" || strings.HasPrefix(imp, "gonum.org/v1/plot") {
				t.Errorf("%s imports %s", p, imp)
			}
			if strings.HasPrefix(imp, "amq/") && !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk("amq/quant")
}
