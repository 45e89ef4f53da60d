package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"amq/internal/atomicfile"
)

// File is one file of a report: its name (in the outputs' folder) and
// contents.
type File struct {
	Name string
	Data []byte
}

// The report's file names after the output prefix's file name.
const (
	jsonSuffix     = "_report.json"
	markdownSuffix = "_report.md"
)

// figure is one PNG of the report.
type figure struct {
	file   string // file name
	alt    string // the Markdown image's text
	render func() ([]byte, error)
}

// figures are the report's PNGs, by the section that shows them.
type figures struct {
	sqnr      *figure  // nil without SQNR (--no-eval)
	balance   []figure // the most unbalanced layers first
	histogram *figure  // nil without histograms
}

// plan decides which figures r gets; the Markdown and the PNGs follow it,
// so both come from the JSON alone.
func plan(r *Report) figures {
	var f figures
	if hasSQNR(r) {
		f.sqnr = &figure{r.Name + "_report_sqnr.png", "SQNR per layer", func() ([]byte, error) { return sqnrPNG(r) }}
	}
	for k, i := range balancePlotLayers(r) {
		l := &r.Layers[i]
		f.balance = append(f.balance, figure{fmt.Sprintf("%s_report_balance_%d.png", r.Name, k+1),
			"balance of " + l.Name, func() ([]byte, error) { return balancePNG(l) }})
	}
	if idx := histogramPlotLayers(r); len(idx) > 0 {
		f.histogram = &figure{r.Name + "_report_histograms.png", "activation histograms",
			func() ([]byte, error) { return histogramPNG(r, idx) }}
	}
	return f
}

// all lists the figures in the order the Markdown shows them.
func (f figures) all() []figure {
	var out []figure
	if f.sqnr != nil {
		out = append(out, *f.sqnr)
	}
	out = append(out, f.balance...)
	if f.histogram != nil {
		out = append(out, *f.histogram)
	}
	return out
}

// Files returns every file of r: <name>_report.json, <name>_report.md and
// the PNGs.
func Files(r *Report) ([]File, error) {
	js, err := EncodeJSON(r)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	rest, err := Rendered(r)
	if err != nil {
		return nil, err
	}
	return append([]File{{r.Name + jsonSuffix, js}}, rest...), nil
}

// Rendered returns what is made from the JSON: <name>_report.md and the
// PNGs.
func Rendered(r *Report) ([]File, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	f := plan(r)
	figs := f.all()
	out := make([]File, 1+len(figs))
	out[0] = File{r.Name + markdownSuffix, markdown(r, f)}
	// The figures are independent: draw them at once.
	errs := make([]error, len(figs))
	var wg sync.WaitGroup
	for k, fig := range figs {
		wg.Go(func() {
			b, err := fig.render()
			out[1+k], errs[k] = File{fig.file, b}, err
		})
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("report %s: plot %s: %w", r.Name, figs[k].file, err)
		}
	}
	return out, nil
}

// WriteTo writes files to path(name) each, as RunFlow's BeforeCommit hook
// gives it (the staging folder of the run).
func WriteTo(files []File, path func(name string) string) error {
	for _, f := range files {
		if err := os.WriteFile(path(f.Name), f.Data, 0o666); err != nil {
			return err
		}
	}
	return nil
}

// Commit writes files into dir, all or none: staged in a private folder
// there, then moved into place together.
func Commit(dir string, files []File) error {
	st, err := atomicfile.NewStaging(dir, ".amq-report-")
	if err != nil {
		return err
	}
	defer st.Discard()
	if err := WriteTo(files, st.Path); err != nil {
		return err
	}
	return st.Commit()
}

// Regenerate reads the report jsonPath and writes its Markdown and PNGs
// again, from the JSON alone, next to it (or under the output prefix out,
// when not empty). It returns the paths written.
func Regenerate(jsonPath, out string) ([]string, error) {
	r, err := ReadJSON(jsonPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(jsonPath)
	if out != "" {
		if strings.HasSuffix(out, string(filepath.Separator)) {
			return nil, fmt.Errorf("output prefix %q must end in a file name prefix", out)
		}
		dir, r.Name = filepath.Dir(out), filepath.Base(out)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	files, err := Rendered(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jsonPath, err)
	}
	if err := Commit(dir, files); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f.Name))
	}
	return paths, nil
}
