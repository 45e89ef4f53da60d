package main

import (
	"bytes"
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
	for _, want := range []string{"stub library:   no", "devices:        2", "SoC:            Ascend310P3", "ATC:            " + ascendATC} {
		if !strings.Contains(s, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, s)
		}
	}
}
