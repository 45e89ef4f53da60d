package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/onnx"
)

// TestFoldersWithoutUsableFiles checks the errors for a data folder that
// is empty, that holds only files amq does not read (and subfolders), or
// that mixes images and .bin files, and for a path that does not exist:
// each names the folder and what it found.
func TestFoldersWithoutUsableFiles(t *testing.T) {
	t.Parallel()
	g := model(onnx.Float, -1, 3, 8, 8)
	empty := t.TempDir()
	openFails(t, g, empty, Options{}, empty+": no usable file", "PNG or JPEG", ".bin", "nothing in it")

	other := t.TempDir()
	for _, n := range []string{"calib.npy", "labels.txt", "notes.md", "x.csv"} {
		os.WriteFile(filepath.Join(other, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(other, "n01440764"), 0o755)
	openFails(t, g, other, Options{}, other+": no usable file", "4 other files (calib.npy, labels.txt, notes.md, ...)", "1 subfolder (n01440764; their files are not read)")

	both := t.TempDir()
	os.WriteFile(filepath.Join(both, "a.png"), nil, 0o644)
	os.WriteFile(filepath.Join(both, "b.bin"), nil, 0o644)
	openFails(t, g, both, Options{}, both, "both images (a.png) and .bin files (b.bin)")

	missing := filepath.Join(empty, "nope.npy")
	openFails(t, g, missing, Options{}, missing, "no such file")
}

// TestHiddenFilesAreNotRead checks that hidden files, such as the ._a.png
// that macOS leaves beside a.png on other file systems, are left out with
// a note rather than failing as corrupt images.
func TestHiddenFilesAreNotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), gradient(4, 4))
	os.WriteFile(filepath.Join(dir, "._a.png"), []byte("AppleDouble"), 0o644)
	s, notes := open(t, model(onnx.Float, -1, 3, 4, 4), dir, Options{})
	if s.Samples != 1 {
		t.Errorf("%d samples, want 1", s.Samples)
	}
	if want := "not read: 1 other file (._a.png)"; !strings.Contains(notes, want) {
		t.Errorf("notes %q lack %q", notes, want)
	}
}
