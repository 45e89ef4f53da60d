package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// fusedOp matches arm64's fused multiply-add instructions in objdump output.
var fusedOp = regexp.MustCompile(`\t(FMADD|FMSUB|FNMADD|FNMSUB)[SD] `)

// TestArm64BuildHasNoFusedMultiplyAdd builds amq's pure-Go arm64 binary and
// fails if any of amq's own functions contains a fused multiply-add. Go fuses
// x*y+z on arm64 but not on amd64, so one unconverted product would make a
// board's records differ from an x86 pure-Go run in the last bits
// (docs/design.md "Same bits on every architecture"); this catches it in
// `go test` rather than only in CI's board test. The report's plotting is
// exempt: pictures, not numbers.
func TestArm64BuildHasNoFusedMultiplyAdd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "amq-arm64")
	build := exec.Command("go", "build", "-tags", "purego", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build for linux/arm64: %v\n%s", err, out)
	}
	dump, err := exec.Command("go", "tool", "objdump", "-s", `^(amq/|main\.)`, bin).Output()
	if err != nil {
		t.Fatalf("go tool objdump: %v", err)
	}
	fused := fusedFunctions(dump)
	if len(fused) > 0 {
		t.Errorf("fused multiply-adds (x*y+z without a float32()/float64() conversion) in:\n  %s",
			strings.Join(fused, "\n  "))
	}
}

// fusedFunctions lists the amq functions in an objdump listing that contain
// a fused multiply-add, with their counts.
func fusedFunctions(dump []byte) []string {
	counts := map[string]int{}
	fn := ""
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "TEXT "); ok {
			fn, _, _ = strings.Cut(name, " ")
			continue
		}
		if fusedOp.MatchString(line) && !strings.HasPrefix(fn, "amq/report.") {
			counts[fn]++
		}
	}
	var out []string
	for name, n := range counts {
		out = append(out, name+" ("+strconv.Itoa(n)+")")
	}
	sort.Strings(out)
	return out
}

// TestFusedFunctionsNamesEachFusingFunction checks the listing parser the
// build test relies on, on a listing with and without fused instructions.
func TestFusedFunctionsNamesEachFusingFunction(t *testing.T) {
	dump := []byte("TEXT amq/sim.axpy(SB) /src/sim/vec.go\n" +
		"  vec.go:10\t0x1000\t1f000000\tFMADDS F2, F1, F0, F3 \n" +
		"  vec.go:11\t0x1004\t1f000000\tFMADDS F2, F1, F0, F3 \n" +
		"TEXT amq/sim.scale(SB) /src/sim/vec.go\n" +
		"  vec.go:20\t0x1010\t1e200800\tFMULS F1, F0, F2 \n" +
		"TEXT amq/report.plot(SB) /src/report/plot.go\n" +
		"  plot.go:5\t0x2000\t1f400000\tFMADDD F2, F1, F0, F3 \n")
	got := strings.Join(fusedFunctions(dump), ";")
	if want := "amq/sim.axpy(SB) (2)"; got != want {
		t.Errorf("fusedFunctions = %q, want %q", got, want)
	}
}
