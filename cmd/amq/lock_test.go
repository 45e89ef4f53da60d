//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"amq/internal/atomicfile"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
)

// transformerArgs are the arguments of an amq quantize of the transformer
// fixture into prefix, batch samples a batch on one thread.
func transformerArgs(t *testing.T, batch, prefix string, extra ...string) []string {
	return append([]string{"quantize", "--quiet",
		"--model", testfixture.Path(t, "quant", "transformer", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "transformer", "calib.npy"),
		"--batch-size", batch, "--threads", "1", "--out", prefix}, extra...)
}

// quantizeArgs are transformerArgs four samples a batch.
func quantizeArgs(t *testing.T, prefix string, extra ...string) []string {
	return transformerArgs(t, "4", prefix, extra...)
}

// startLocked starts amq with args and waits until it holds the lock on
// prefix (its pid is in the lock file); with stop it is then stopped
// (SIGSTOP), so that it holds the lock as long as the test needs.
func startLocked(t *testing.T, bin, prefix string, stop bool, args []string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	want := fmt.Sprintf("pid %d\n", cmd.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(atomicfile.LockPath(prefix)); strings.HasPrefix(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("amq took no lock on %s in 30 s\n%s", prefix, stderr.String())
		}
	}
	if stop {
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	return cmd, &stderr
}

// resume lets a stopped run go on and checks that it completes.
func resume(t *testing.T, cmd *exec.Cmd, out *strings.Builder) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the first run: %v\n%s", err, out)
	}
}

// checkComplete checks that prefix's outputs are all there and whole (the
// models load, the record reads) and that no lock file or staging is left.
func checkComplete(t *testing.T, prefix string) {
	t.Helper()
	for _, s := range []string{"_fake_quant_model.onnx", "_deploy_model.onnx"} {
		if _, err := onnx.LoadFile(prefix + s); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	if _, err := quant.ReadConfig(prefix + "_quant_config.json"); err != nil {
		t.Errorf("output: %v", err)
	}
	if rec, err := quant.ReadRecord(prefix + "_record.txt"); err != nil || len(rec) == 0 {
		t.Errorf("output record: %d layers, %v", len(rec), err)
	}
	if _, err := os.Stat(atomicfile.LockPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after the run: %v", err)
	}
	if folders, _ := staged(filepath.Dir(prefix)); len(folders) > 0 {
		t.Errorf("staging left: %v", folders)
	}
}

// TestOutputLockBetweenRuns checks the lock on the output prefix between
// real amq processes, one binary built for its three cases.
func TestOutputLockBetweenRuns(t *testing.T) {
	t.Parallel()
	bin := buildAmq(t)
	t.Run("second run fails at once", func(t *testing.T) { t.Parallel(); secondRunFailsAtOnce(t, bin) })
	t.Run("killed runs lock taken over", func(t *testing.T) { t.Parallel(); killedRunsLockIsTakenOver(t, bin) })
	t.Run("two prefixes at once", func(t *testing.T) { t.Parallel(); twoPrefixesInOneFolderRunAtOnce(t, bin) })
}

// secondRunFailsAtOnce runs amq quantize as a process and keeps it
// holding its prefix (stopped by SIGSTOP); a second amq quantize on the
// same prefix fails within a second naming the first's pid and start
// time, and the first, resumed, completes with all its outputs.
func secondRunFailsAtOnce(t *testing.T, bin string) {
	prefix := filepath.Join(t.TempDir(), "res", "m")
	first, firstOut := startLocked(t, bin, prefix, true, quantizeArgs(t, prefix))
	start := time.Now()
	b, err := exec.Command(bin, quantizeArgs(t, prefix)...).CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second run: %v, want exit status 1\n%s", err, b)
	}
	if took > time.Second {
		t.Errorf("the second run took %v to fail", took)
	}
	want := fmt.Sprintf("amq: %s: in use by amq pid %d started ", prefix, first.Process.Pid)
	if !strings.HasPrefix(string(b), want) || !strings.HasSuffix(string(b), "(another run writes these outputs)\n") {
		t.Errorf("second run printed %q\nwant %q... (another run writes these outputs)", b, want)
	}
	t.Logf("second run failed in %v: %s", took.Round(time.Millisecond), strings.TrimSpace(string(b)))
	resume(t, first, firstOut)
	checkComplete(t, prefix)
}

// killedRunsLockIsTakenOver kills amq quantize with SIGKILL while it
// holds its prefix, which leaves the lock file with its record (the
// kernel drops the flock itself); the next run on the prefix takes it
// over, says so with a warning naming the killed run, and completes.
func killedRunsLockIsTakenOver(t *testing.T, bin string) {
	prefix := filepath.Join(t.TempDir(), "m")
	killed, _ := startLocked(t, bin, prefix, false, quantizeArgs(t, prefix))
	killed.Process.Kill()
	killed.Wait()
	if _, err := os.Stat(atomicfile.LockPath(prefix)); err != nil {
		t.Fatalf("the killed run left no lock file: %v", err)
	}
	start := time.Now()
	b, err := exec.Command(bin, quantizeArgs(t, prefix, "--no-eval", "--batch-num", "1")...).CombinedOutput()
	if err != nil {
		t.Fatalf("next run: %v\n%s", err, b)
	}
	want := fmt.Sprintf("warning: %s: took over the lock of amq pid %d started ", prefix, killed.Process.Pid)
	if !strings.Contains(string(b), want) {
		t.Errorf("next run printed\n%s\nwant a line %q...", b, want)
	}
	t.Logf("next run took over in a run of %v", time.Since(start).Round(time.Millisecond))
	checkComplete(t, prefix)
}

// twoPrefixesInOneFolderRunAtOnce keeps an amq quantize holding prefix a
// (stopped) while another on prefix b in the same folder runs to its end;
// then the first completes too.
func twoPrefixesInOneFolderRunAtOnce(t *testing.T, bin string) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	first, firstOut := startLocked(t, bin, a, true, quantizeArgs(t, a))
	start := time.Now()
	if out, err := exec.Command(bin, quantizeArgs(t, b, "--no-eval", "--batch-num", "1")...).CombinedOutput(); err != nil {
		t.Fatalf("run on %s while %s is held: %v\n%s", b, a, err, out)
	}
	t.Logf("run on b done in %v while a was held", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(atomicfile.LockPath(a)); err != nil {
		t.Fatalf("a's lock is gone before a ended: %v", err)
	}
	resume(t, first, firstOut)
	checkComplete(t, a)
	checkComplete(t, b)
}

// TestEveryWritingCommandRefusesALockedPrefix holds the lock of an output
// prefix (or record) in the test and checks that each command writing
// there fails naming the holder before it reads any input (the inputs do
// not exist), and leaves the lock file as it was.
func TestEveryWritingCommandRefusesALockedPrefix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		prefix string
		args   []string
	}{
		{"m", []string{"quantize", "--model", missing, "--data", missing}},
		{"m", []string{"save", "--model", missing, "--config", missing, "--record", missing}},
		{"m", []string{"report", "--from", missing}},
		{"record.txt", []string{"preprocess", "--model", missing, "--config", missing, "--data", missing}},
		{"record.txt", []string{"calibrate", "--model", missing, "--config", missing, "--data", missing}},
		{"transformer_dmq", []string{"demo"}},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			prefix := filepath.Join(dir, c.prefix)
			l, _, err := atomicfile.LockPrefix(prefix)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			args := c.args
			switch {
			case c.args[0] == "demo":
				args = append(args, "--out", dir)
			case c.prefix == "record.txt":
				args = append(args, "--record", prefix)
			default:
				args = append(args, "--out", prefix)
			}
			_, err = amq(t, args...)
			var busy *atomicfile.BusyError
			if !errors.As(err, &busy) || busy.Holder.PID != os.Getpid() || busy.Prefix != prefix {
				t.Errorf("%s: %v, want %s in use by this test's pid %d", c.args[0], err, prefix, os.Getpid())
			}
			if _, err := os.Stat(atomicfile.LockPath(prefix)); err != nil {
				t.Errorf("the holder's lock file: %v", err)
			}
		})
	}
}

// TestShardsLockTheirStatsFileNotTheRecord: a shard writes only its stats
// file, so shards sharing a --record run side by side (as Slurm starts
// them), while two runs on one stats file do not.
func TestShardsLockTheirStatsFileNotTheRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	model := filepath.Join(quantFixtureDir(t), "transformer", "model_op13.onnx")
	data := filepath.Join(quantFixtureDir(t), "transformer", "calib.npy")
	cfg := filepath.Join(dir, "config.json")
	mustAmq(t, "create-config", "--model", model, "--cfg", filepath.Join(quantFixtureDir(t), "dmq.cfg"), "--batch-num", "2", "--out", cfg)
	record, stats := filepath.Join(dir, "record.txt"), filepath.Join(dir, "p0.stats")
	l, _, err := atomicfile.LockPrefix(record)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	args := []string{"preprocess", "--model", model, "--config", cfg, "--data", data, "--batch-size", "8", "--quiet",
		"--record", record, "--shard", "0/2", "--stats", stats}
	if _, err := amq(t, args...); err != nil {
		t.Fatalf("shard with the record locked by another run: %v", err)
	}
	ls, _, err := atomicfile.LockPrefix(stats)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Unlock()
	_, err = amq(t, args...)
	var busy *atomicfile.BusyError
	if !errors.As(err, &busy) || busy.Prefix != stats {
		t.Errorf("shard with its stats file locked: %v, want %s in use", err, stats)
	}
}
