package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"amq/onnx"
	"amq/quant"
)

// progress reports a command's long phases on stderr: on a terminal, a bar
// per phase with its ETA; otherwise, so that log files stay clean, one line
// when a phase ends ("calibrate: 4 batches in 1.2s"); with --quiet,
// nothing. The command calls finish when its last phase is over.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool

	cur   string // the phase of the bar or line under way
	done  int    // its batches handed out so far
	start time.Time
	bar   *progressbar.ProgressBar
}

// newProgress reports on w, drawing bars when w is a terminal.
func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, quiet: quiet, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// progressOf is the reporter of a command: its stderr and the --quiet flag
// every command inherits from the root.
func progressOf(cmd *cobra.Command) *progress {
	quiet, _ := cmd.Flags().GetBool("quiet")
	return newProgress(cmd.ErrOrStderr(), quiet)
}

// step reports that batch done of total of the phase named step has been
// handed out. It has the signature of quant.QuantizeOptions.Progress.
func (p *progress) step(step string, done, total int) {
	if p.quiet {
		return
	}
	if step != p.cur {
		p.finish()
		p.cur, p.start = step, time.Now()
		if p.tty {
			p.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(fmt.Sprintf("%-10s", step)),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish(),
			)
		}
	}
	p.done = done
	if p.tty {
		p.bar.Set(done)
	}
}

// finish ends the phase under way: without a terminal, its line is written
// now, when its last batch has been computed as well as handed out.
func (p *progress) finish() {
	if p.cur == "" {
		return
	}
	if p.tty {
		p.bar.Finish()
	} else {
		unit := "batches"
		if p.done == 1 {
			unit = "batch"
		}
		fmt.Fprintf(p.w, "%s: %d %s in %v\n", p.cur, p.done, unit, time.Since(p.start).Round(time.Millisecond))
	}
	p.cur = ""
}

// phase reports a phase without batches (loading a model, writing the
// outputs); the returned function ends it with one line saying how long it
// took.
func (p *progress) phase(name string) (end func()) {
	if p.quiet {
		return func() {}
	}
	p.finish()
	start := time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "%s ...", name)
	}
	return func() {
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K") // the line gives way to the next bar
		}
		fmt.Fprintf(p.w, "%s: %v\n", name, time.Since(start).Round(time.Millisecond))
	}
}

// source wraps d so that every batch handed out is reported as a batch of
// the phase named step, out of total.
func (p *progress) source(d quant.DataSource, step string, total int) quant.DataSource {
	return &progressSource{DataSource: d, p: p, step: step, shard: quant.Shard{Index: 0, Count: 1}, total: total}
}

// progressSource is a DataSource that reports each batch of shard it
// hands out for the first time, numbered within the shard: the α search's
// output check reads the first batches again, which is no progress.
type progressSource struct {
	quant.DataSource
	p     *progress
	step  string
	shard quant.Shard // batches Index, Index+Count, ...; 0/1 for all
	total int         // batches in the shard
	most  int         // batches reported
}

func (s *progressSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	b, err := s.DataSource.Batch(i)
	if k := (i-s.shard.Index)/s.shard.Count + 1; err == nil && k > s.most {
		s.most = k
		s.p.step(s.step, k, s.total)
	}
	return b, err
}
