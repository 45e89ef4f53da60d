package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// kind is what a --data path holds.
type kind int

const (
	npyFile    kind = iota // one .npy array, for a single-input model
	npzFile                // a .npz with one array per input
	imageFiles             // PNG or JPEG images, one sample each
	rawFiles               // raw .bin files of one or more samples each
)

func (k kind) String() string {
	return [...]string{"a .npy file", "a .npz file", "images", ".bin files"}[k]
}

// found is what find made of a --data path: its kind and, for images and
// .bin files, the files in name order.
type found struct {
	kind  kind
	files []string
}

// imageExts are the file names of images amq decodes.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// find tells what path holds. A file is taken by its extension: .npz, an
// image, .bin, else .npy (any name, as amq always read it) unless raw is
// set, which makes it a raw file. A folder holds images or .bin files, in
// name order, not both; its other files, hidden files and subfolders are
// not read (said on notes), and a folder with neither is an error.
func find(path string, raw bool, notes io.Writer) (found, error) {
	st, err := os.Stat(path)
	if err != nil {
		return found{}, err
	}
	if !st.IsDir() {
		ext := strings.ToLower(filepath.Ext(path))
		switch {
		case ext == ".npz":
			return found{kind: npzFile}, nil
		case imageExts[ext]:
			return found{kind: imageFiles, files: []string{path}}, nil
		case ext == ".bin" || raw && ext != ".npy":
			return found{kind: rawFiles, files: []string{path}}, nil
		}
		return found{kind: npyFile}, nil
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return found{}, err
	}
	var images, bins, other, dirs []string
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		if st, err := os.Stat(p); err == nil && st.IsDir() { // follows links
			dirs = append(dirs, e.Name())
			continue
		}
		switch ext := strings.ToLower(filepath.Ext(e.Name())); {
		case strings.HasPrefix(e.Name(), "."): // hidden, such as macOS's ._a.png
			other = append(other, e.Name())
		case imageExts[ext]:
			images = append(images, p)
		case ext == ".bin":
			bins = append(bins, p)
		default:
			other = append(other, e.Name())
		}
	}
	f := found{kind: imageFiles, files: images}
	switch {
	case len(images) > 0 && len(bins) > 0:
		return found{}, fmt.Errorf("%s holds both images (%s) and .bin files (%s): give a folder of one kind", path, filepath.Base(images[0]), filepath.Base(bins[0]))
	case len(bins) > 0:
		f = found{kind: rawFiles, files: bins}
	case len(images) == 0:
		return found{}, fmt.Errorf("%s: no usable file: a data folder holds PNG or JPEG images (.png, .jpg, .jpeg) or .bin files, and this one has %s", path, unused(other, dirs))
	}
	if len(other)+len(dirs) > 0 {
		fmt.Fprintf(notes, "note: %s: not read: %s\n", path, unused(other, dirs))
	}
	return f, nil
}

// unused says which files and subfolders a data folder has that amq does
// not read.
func unused(files, dirs []string) string {
	var parts []string
	if len(files) > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s)", count(len(files), "other file"), examples(files)))
	}
	if len(dirs) > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s; their files are not read)", count(len(dirs), "subfolder"), examples(dirs)))
	}
	if len(parts) == 0 {
		return "nothing in it"
	}
	return strings.Join(parts, " and ")
}

// count is "1 file" or "n files".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// examples names up to three of names.
func examples(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + ", ..."
	}
	return strings.Join(names, ", ")
}
