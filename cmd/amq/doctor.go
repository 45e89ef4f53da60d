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
reports what it finds: the CANN version, the driver and firmware versions
(read from the files CANN's installers write), whether ATC is on PATH, the
library path, whether it is CANN's stub library (installed on machines
without an NPU driver), the number of devices and the SoC name. It exits
non-zero when the ascend backend cannot run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return doctor(cmd.OutOrStdout(), lib) },
	}
	cmd.Flags().StringVar(&lib, "lib", "", "libascendcl.so to check (default: $AMQ_ASCENDCL_LIB, else lib64/ in the toolkit home shown)")
	return cmd
}

func doctor(w io.Writer, lib string) error {
	found := cann.FindLibrary(lib)
	inst := ascendInstall{toolkit: found.Home, installInfo: "/etc/ascend_install.info", root: "/usr/local/Ascend"}
	fmt.Fprintf(w, "toolkit home:   %s (%s)\n", found.Home, found.HomeRule)
	fmt.Fprintf(w, "CANN version:   %s\n", inst.cannVersion())
	fmt.Fprintf(w, "driver:         %s\n", inst.componentVersion("driver", "Driver_Install_Path_Param"))
	fmt.Fprintf(w, "firmware:       %s\n", inst.componentVersion("firmware", "Firmware_Install_Path_Param"))
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
	rule := found.LibraryRule
	if used != found.Library { // an earlier Open in this process decided
		rule = "loaded earlier"
	}
	fmt.Fprintf(w, "library:        %s (%s)\n", used, rule)
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

// ascendInstall says where an Ascend install keeps the files that record
// its versions, as CANN's installers write them and its runtime reads them
// (hicann/runtime src/acl/aclrt_impl/acl.cpp, aclsysGetVersionStr; CANN's
// installation guide, "File Paths").
type ascendInstall struct {
	toolkit     string // the toolkit (or nnae) home, holding CANN's files
	installInfo string // /etc/ascend_install.info: where driver and firmware went
	root        string // /usr/local/Ascend: their default place
}

// cannVersion reads the CANN version from the first install file found,
// and names the file:
//   - <arch>-linux/ascend_toolkit_install.info "version=8.0.0" (the
//     toolkit package; ascend_nnae_install.info for NNAE);
//   - version.cfg "runtime_running_version=[7.6.0.1.220:8.0.0]" (the
//     multi-version "latest" folder: inner version, then CANN's);
//   - share/info/runtime/version.info "Version=" (CANN 8.5 on; what
//     aclsysGetVersionStr("runtime") reports);
//   - runtime/version.info, compiler/version.info "Version=" (older
//     layouts, which record the inner version).
func (a ascendInstall) cannVersion() string {
	infos, _ := filepath.Glob(filepath.Join(a.toolkit, "*-linux", "ascend_toolkit_install.info"))
	infos = append(infos, filepath.Join(a.toolkit, "ascend_nnae_install.info"))
	for _, f := range infos {
		if v := installValue(f, "version"); v != "" {
			return v + " (" + f + ")"
		}
	}
	cfg := filepath.Join(a.toolkit, "version.cfg")
	if v := strings.Trim(installValue(cfg, "runtime_running_version"), "[]"); v != "" {
		if _, release, ok := strings.Cut(v, ":"); ok && release != "" {
			v = release
		}
		return v + " (" + cfg + ")"
	}
	for _, f := range []string{
		filepath.Join(a.toolkit, "share", "info", "runtime", "version.info"),
		filepath.Join(a.toolkit, "runtime", "version.info"),
		filepath.Join(a.toolkit, "compiler", "version.info"),
	} {
		if v := installValue(f, "version"); v != "" {
			return v + " (" + f + ")"
		}
	}
	return "unknown (no version file under " + a.toolkit + ")"
}

// componentVersion reads the version of the driver or the firmware from
// <path>/<name>/version.info, where <path> is what ascend_install.info
// records under key (as ACL's aclsysGetVersionStr does), else the default
// install root.
func (a ascendInstall) componentVersion(name, key string) string {
	dir := installValue(a.installInfo, key)
	if dir == "" {
		dir = a.root
	}
	f := filepath.Join(dir, name, "version.info")
	if v := installValue(f, "version"); v != "" {
		return v + " (" + f + ")"
	}
	return "not found (no " + f + ")"
}

// installValue returns the value of key in a key=value install file (keys
// compared without case, so "Version" and "version"; "" when the file or
// the key is missing).
func installValue(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.Trim(strings.TrimSpace(v), "\"")
		}
	}
	return ""
}
