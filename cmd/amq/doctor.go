package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"amq/cann"
)

func init() { subcommands = append(subcommands, newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	var lib string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the Ascend setup: CANN library, version, devices, SoC, ATC",
		Long: `Doctor loads CANN's libascendcl.so the way the ascend backend does and
reports what it finds: the library path, whether it is CANN's stub library
(installed on machines without an NPU driver), the CANN version, the number
of devices, the SoC name and whether ATC is on PATH. It exits non-zero when
the ascend backend cannot run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return doctor(cmd.OutOrStdout(), lib) },
	}
	cmd.Flags().StringVar(&lib, "lib", "", "libascendcl.so to check (default: $AMQ_ASCENDCL_LIB, $ASCEND_TOOLKIT_HOME/lib64, /usr/local/Ascend/ascend-toolkit/latest/lib64)")
	return cmd
}

func doctor(w io.Writer, lib string) error {
	home := os.Getenv("ASCEND_TOOLKIT_HOME")
	if home == "" {
		home = "/usr/local/Ascend/ascend-toolkit/latest"
	}
	fmt.Fprintf(w, "toolkit home:   %s\n", home)
	fmt.Fprintf(w, "CANN version:   %s\n", cannVersion(home))
	atc := os.Getenv("AMQ_ATC")
	if atc == "" {
		atc = "atc"
	}
	if p, err := exec.LookPath(atc); err == nil {
		fmt.Fprintf(w, "ATC:            %s\n", p)
	} else {
		fmt.Fprintf(w, "ATC:            not found (source set_env.sh, or set AMQ_ATC; scripts/atc.sh does both)\n")
	}
	used, err := cann.Open(lib)
	fmt.Fprintf(w, "library:        %s\n", used)
	if err != nil {
		switch {
		case errors.Is(err, cann.ErrStub):
			fmt.Fprintf(w, "stub library:   yes\n")
		case errors.Is(err, cann.ErrNoCgo):
		default:
			fmt.Fprintf(w, "stub library:   unknown (not loaded)\n")
		}
		return fmt.Errorf("ascend backend unavailable: %w", err)
	}
	fmt.Fprintf(w, "stub library:   no\n")
	n, err := cann.DeviceCount()
	if err != nil {
		return fmt.Errorf("device count: %w", err)
	}
	fmt.Fprintf(w, "devices:        %d\n", n)
	soc, err := cann.SocName()
	if err != nil {
		return fmt.Errorf("SoC name: %w", err)
	}
	if soc == "" {
		soc = "unknown"
	}
	fmt.Fprintf(w, "SoC:            %s\n", soc)
	if n == 0 {
		return errors.New("no NPU device found")
	}
	return nil
}

// cannVersion reads the toolkit's version from its install files; the
// layout differs between releases, so several are tried.
func cannVersion(home string) string {
	cands := []string{filepath.Join(home, "version.cfg"), filepath.Join(home, "runtime", "version.info")}
	more, _ := filepath.Glob(filepath.Join(home, "*-linux", "ascend_toolkit_install.info"))
	cands = append(cands, more...)
	for _, c := range cands {
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if ok && strings.Contains(strings.ToLower(k), "version") {
				f.Close()
				return strings.Trim(strings.TrimSpace(v), "[]\"") + " (" + c + ")"
			}
		}
		f.Close()
	}
	return "unknown (no version file under " + home + ")"
}
