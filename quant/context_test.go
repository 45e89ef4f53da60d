package quant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"amq/onnx"
)

// TestRunFlowFailureRemovesOutputFolderItCreated checks that a run that
// fails (here: its data stops at batch 1) removes the output folders it
// created, and only those.
func TestRunFlowFailureRemovesOutputFolderItCreated(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	dir := t.TempDir()
	data := failingSource{calibData(3, 2), 1}
	_, err := RunFlow(m, testSim, data, filepath.Join(dir, "a", "b", "m"), QuantizeOptions{BatchNum: 2})
	if err == nil || !errors.Is(err, errBadBatch) {
		t.Fatalf("error %v, want the data's", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the failed run left %s in the folder that existed", entries[0].Name())
	}
}

var errBadBatch = errors.New("bad batch")

// failingSource fails from batch k on.
type failingSource struct {
	DataSource
	k int
}

func (s failingSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i >= s.k {
		return nil, errBadBatch
	}
	return s.DataSource.Batch(i)
}

// cancelAt cancels a context when batch k is asked for.
type cancelAt struct {
	DataSource
	k      int
	cancel context.CancelFunc
}

func (s cancelAt) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i == s.k {
		s.cancel()
	}
	return s.DataSource.Batch(i)
}

// TestRunFlowContextStopsWhenCancelled cancels a run as its second batch
// is fetched: the run fails with context.Canceled and leaves the output
// folder as it was, an older file included.
func TestRunFlowContextStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	dir := t.TempDir()
	old := filepath.Join(dir, "m_record.txt")
	if err := os.WriteFile(old, []byte("older\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := RunFlowContext(ctx, m, testSim, cancelAt{calibData(3, 2), 1, cancel}, filepath.Join(dir, "m"), QuantizeOptions{BatchNum: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(old); len(entries) != 1 || string(b) != "older\n" {
		t.Errorf("the cancelled run left %d entries, the older record %q", len(entries), b)
	}
}
