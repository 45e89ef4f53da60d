package cann

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindLibraryFollowsOneSearchOrder checks the order that both the
// backend and amq doctor use: the library given, $AMQ_ASCENDCL_LIB, the
// home's lib64; the home from $ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH, then
// the default folders that exist.
func TestFindLibraryFollowsOneSearchOrder(t *testing.T) {
	cases := []struct {
		name      string
		path      string
		env       map[string]string
		dirs      []string // created under the root
		home, lib string   // "ROOT" stands for the root
		homeRule  string
		libRule   string
	}{
		{name: "nothing installed", home: "ROOT/ascend-toolkit/latest", lib: "ROOT/ascend-toolkit/latest/lib64/libascendcl.so", homeRule: "default, not installed", libRule: "in the home"},
		{name: "toolkit", dirs: []string{"ascend-toolkit/latest", "cann"}, home: "ROOT/ascend-toolkit/latest", lib: "ROOT/ascend-toolkit/latest/lib64/libascendcl.so", homeRule: "default", libRule: "in the home"},
		{name: "CANN 8.5 folder", dirs: []string{"cann"}, home: "ROOT/cann", lib: "ROOT/cann/lib64/libascendcl.so", homeRule: "default", libRule: "in the home"},
		{name: "ASCEND_HOME_PATH", dirs: []string{"cann"}, env: map[string]string{"ASCEND_HOME_PATH": "/h"}, home: "/h", lib: "/h/lib64/libascendcl.so", homeRule: "$ASCEND_HOME_PATH", libRule: "in the home"},
		{name: "ASCEND_TOOLKIT_HOME first", env: map[string]string{"ASCEND_HOME_PATH": "/h", "ASCEND_TOOLKIT_HOME": "/t"}, home: "/t", lib: "/t/lib64/libascendcl.so", homeRule: "$ASCEND_TOOLKIT_HOME", libRule: "in the home"},
		{name: "AMQ_ASCENDCL_LIB", env: map[string]string{"ASCEND_TOOLKIT_HOME": "/t", "AMQ_ASCENDCL_LIB": "/x/lib.so"}, home: "/t", lib: "/x/lib.so", homeRule: "$ASCEND_TOOLKIT_HOME", libRule: "$AMQ_ASCENDCL_LIB"},
		{name: "given path first", path: "/g/lib.so", env: map[string]string{"AMQ_ASCENDCL_LIB": "/x/lib.so"}, home: "ROOT/ascend-toolkit/latest", lib: "/g/lib.so", homeRule: "default, not installed", libRule: "given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range c.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			sub := func(s string) string {
				if len(s) >= 4 && s[:4] == "ROOT" {
					return root + s[4:]
				}
				return s
			}
			got := findLibrary(c.path, root, func(k string) string { return c.env[k] })
			want := Install{Home: sub(c.home), HomeRule: c.homeRule, Library: sub(c.lib), LibraryRule: c.libRule}
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}
