package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorReportsTheFakeRuntime checks that amq doctor finds the fake
// libascendcl (not the stub), its two devices, the SoC and the ATC in use.
func TestDoctorReportsTheFakeRuntime(t *testing.T) {
	requireAscendFake(t)
	var out bytes.Buffer
	if err := doctor(&out, ""); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"library:        " + os.Getenv("AMQ_ASCENDCL_LIB") + " ($AMQ_ASCENDCL_LIB)", "stub library:   no", "devices:        2", "SoC:            Ascend310P3", "ATC:            " + ascendATC} {
		if !strings.Contains(s, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, s)
		}
	}
}

// writeFiles creates files (path relative to root -> content) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The install files as CANN 8.0.0 with driver 24.1.rc3 writes them.
const (
	toolkitInstallInfo = "package_name=Ascend-cann-toolkit\ninnerversion=V100R001C20SPC001B220\nversion=8.0.0\narch=x86_64\nos=linux\n"
	versionCfg         = "# version: 1.0\nruntime_running_version=[7.6.0.1.220:8.0.0]\ncompiler_running_version=[7.6.0.1.220:8.0.0]\n"
	driverVersionInfo  = "ascendhal_version=7.35.23\nVersion=24.1.rc3\nInnerversion=V100R001C19SPC001B124\ncompatible_version_fw=[7.0.0,7.5.99]\npackage_version=24.1.rc3\n"
)

// TestDoctorReadsVersionsFromInstallFiles builds fake Ascend install trees
// in the layouts CANN's installers produce and checks which version doctor
// reads from which file.
func TestDoctorReadsVersionsFromInstallFiles(t *testing.T) {
	cases := []struct {
		name               string
		files              map[string]string
		cann, cannFile     string
		driver, driverFile string
		firmware           string
	}{{
		name: "toolkit 8.0 with driver and firmware",
		files: map[string]string{
			"ascend-toolkit/latest/x86_64-linux/ascend_toolkit_install.info": toolkitInstallInfo,
			"ascend-toolkit/latest/version.cfg":                              versionCfg,
			"ascend-toolkit/latest/runtime/version.info":                     "Version=7.6.0.1.220\n",
			"driver/version.info":                                            driverVersionInfo,
			"firmware/version.info":                                          "Version=7.5.0.1.129\nfirmware_version=1.0\n",
		},
		cann: "8.0.0", cannFile: "x86_64-linux/ascend_toolkit_install.info",
		driver: "24.1.rc3", driverFile: "driver/version.info",
		firmware: "7.5.0.1.129",
	}, {
		name: "latest folder with version.cfg only",
		files: map[string]string{
			"ascend-toolkit/latest/version.cfg": versionCfg,
		},
		cann: "8.0.0", cannFile: "latest/version.cfg",
	}, {
		name: "CANN 8.5 layout",
		files: map[string]string{
			"ascend-toolkit/latest/share/info/runtime/version.info": "Version=8.5.0\n",
		},
		cann: "8.5.0", cannFile: "share/info/runtime/version.info",
	}, {
		name: "older toolkit with compiler/version.info",
		files: map[string]string{
			"ascend-toolkit/latest/compiler/version.info": "Version=6.3.0.1.100\n",
		},
		cann: "6.3.0.1.100", cannFile: "compiler/version.info",
	}, {
		name: "driver elsewhere, named by ascend_install.info",
		files: map[string]string{
			"etc/ascend_install.info":       "UserName=HwHiAiUser\nUserGroup=HwHiAiUser\nDriver_Install_Path_Param=OTHER/opt/npu\nFirmware_Install_Path_Param=OTHER/opt/npu\n",
			"opt/npu/driver/version.info":   driverVersionInfo,
			"opt/npu/firmware/version.info": "Version=7.5.0.1.129\n",
			"driver/version.info":           "Version=1.0.wrong\n",
		},
		driver: "24.1.rc3", driverFile: "opt/npu/driver/version.info",
		firmware: "7.5.0.1.129",
	}, {
		name:  "nothing installed",
		files: map[string]string{},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range c.files {
				c.files[name] = strings.ReplaceAll(content, "OTHER", root+"/")
			}
			writeFiles(t, root, c.files)
			inst := ascendInstall{
				toolkit:     filepath.Join(root, "ascend-toolkit", "latest"),
				installInfo: filepath.Join(root, "etc", "ascend_install.info"),
				root:        root,
			}
			check := func(what, got, want, file, unknown string) {
				t.Helper()
				if want == "" {
					if !strings.HasPrefix(got, unknown) {
						t.Errorf("%s: %q, want it to start with %q", what, got, unknown)
					}
					return
				}
				if !strings.HasPrefix(got, want+" (") || !strings.HasSuffix(got, file+")") {
					t.Errorf("%s: %q, want %s read from ...%s", what, got, want, file)
				}
			}
			check("CANN", inst.cannVersion(), c.cann, c.cannFile, "unknown (no version file under")
			check("driver", inst.componentVersion("driver", "Driver_Install_Path_Param"), c.driver, c.driverFile, "not found (no "+root)
			check("firmware", inst.componentVersion("firmware", "Firmware_Install_Path_Param"), c.firmware, "firmware/version.info", "not found (no "+root)
		})
	}
}

// TestDoctorPrintsTheToolkitsVersion runs doctor against the fake runtime
// with ASCEND_TOOLKIT_HOME pointing at a fake toolkit.
func TestDoctorPrintsTheToolkitsVersion(t *testing.T) {
	requireAscendFake(t)
	home := t.TempDir()
	writeFiles(t, home, map[string]string{"aarch64-linux/ascend_toolkit_install.info": toolkitInstallInfo})
	t.Setenv("ASCEND_TOOLKIT_HOME", home)
	var out bytes.Buffer
	if err := doctor(&out, ""); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := "CANN version:   8.0.0 (" + filepath.Join(home, "aarch64-linux", "ascend_toolkit_install.info") + ")"
	if !strings.Contains(out.String(), want) {
		t.Errorf("doctor output lacks %q:\n%s", want, out.String())
	}
}
