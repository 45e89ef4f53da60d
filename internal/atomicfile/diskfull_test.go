//go:build linux

package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes on a test folder and returns it;
// the test is skipped, saying why, where mounting needs root it lacks.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a small tmpfs, which needs root to mount")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestDiskFullNamesTheOutputAndTheCause writes more than a small disk
// holds, one file and a staged set: each error names the output the
// caller asked for and "no space left on device" (errors.Is ENOSPC), no
// temporary or staging path, and nothing is left on the disk.
func TestDiskFullNamesTheOutputAndTheCause(t *testing.T) {
	dir := smallDisk(t, "64k")
	big := make([]byte, 256<<10)
	path := filepath.Join(dir, "model.onnx")
	err := WriteFile(path, big)
	if !errors.Is(err, syscall.ENOSPC) || err.Error() != path+": no space left on device" {
		t.Errorf("WriteFile: %v; want %q", err, path+": no space left on device")
	}

	st, err := NewStaging(dir, ".amq-test-")
	if err != nil {
		t.Fatal(err)
	}
	err = WriteFile(st.Path("m_deploy_model.onnx"), big)
	err = st.Err(err)
	want := "cannot write " + filepath.Join(dir, "m_deploy_model.onnx") + ": no space left on device"
	if !errors.Is(err, syscall.ENOSPC) || err.Error() != want {
		t.Errorf("staged: %v; want %q", err, want)
	}
	st.Discard()
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("the full disk holds %v", names)
	}
}
