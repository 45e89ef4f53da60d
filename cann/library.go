package cann

import (
	"os"
	"path/filepath"
)

// Install says where the ACL library is loaded from and which CANN home
// amq doctor reads versions from. FindLibrary is the one search order for
// both: Open (the ascend backend) loads Install.Library, doctor prints both
// with the rule that chose them.
type Install struct {
	Home        string // CANN's toolkit (or nnae, or cann) folder
	HomeRule    string // what chose Home, e.g. "$ASCEND_TOOLKIT_HOME"
	Library     string // the libascendcl.so to load
	LibraryRule string // what chose Library, e.g. "$AMQ_ASCENDCL_LIB"
}

// FindLibrary applies the search order. The home is the first of
// $ASCEND_TOOLKIT_HOME and $ASCEND_HOME_PATH (set_env.sh sets them),
// /usr/local/Ascend/ascend-toolkit/latest and, from CANN 8.5 on,
// /usr/local/Ascend/cann, the default folders taken when they exist (the
// first when neither does). The library is path when not "" (--lib,
// Options.Library), else $AMQ_ASCENDCL_LIB, else the home's
// lib64/libascendcl.so.
func FindLibrary(path string) Install {
	return findLibrary(path, "/usr/local/Ascend", os.Getenv)
}

func findLibrary(path, root string, getenv func(string) string) Install {
	var in Install
	for _, env := range []string{"ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"} {
		if v := getenv(env); v != "" {
			in.Home, in.HomeRule = v, "$"+env
			break
		}
	}
	if in.Home == "" {
		defaults := []string{filepath.Join(root, "ascend-toolkit", "latest"), filepath.Join(root, "cann")}
		in.Home, in.HomeRule = defaults[0], "default, not installed"
		for _, d := range defaults {
			if _, err := os.Stat(d); err == nil {
				in.Home, in.HomeRule = d, "default"
				break
			}
		}
	}
	switch {
	case path != "":
		in.Library, in.LibraryRule = path, "given"
	case getenv("AMQ_ASCENDCL_LIB") != "":
		in.Library, in.LibraryRule = getenv("AMQ_ASCENDCL_LIB"), "$AMQ_ASCENDCL_LIB"
	default:
		in.Library, in.LibraryRule = filepath.Join(in.Home, "lib64", "libascendcl.so"), "in the home"
	}
	return in
}
