package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"amq/onnx"
	"amq/quant"
)

// progressData reports on w each batch the quant step asks for.
type progressData struct {
	quant.DataSource
	bar *progressbar.ProgressBar
}

func withProgress(d quant.DataSource, w io.Writer, what string, total int) quant.DataSource {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &progressData{DataSource: d, bar: bar}
}

func (p *progressData) Batch(i int) (map[string]*onnx.Tensor, error) {
	b, err := p.DataSource.Batch(i)
	if err == nil {
		p.bar.Add(1)
	}
	return b, err
}

// newProgress returns a progress callback drawing one bar per step on w,
// or nil when w is not a terminal, so that logs and pipes stay clean.
func newProgress(w io.Writer) func(step string, done, total int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var bar *progressbar.ProgressBar
	var cur string
	return func(step string, done, total int) {
		if step != cur || bar == nil {
			cur = step
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(fmt.Sprintf("%-10s", step)),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(),
			)
		}
		bar.Set(done)
	}
}
