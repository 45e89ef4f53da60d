package main

import (
	"bytes"
	"testing"
)

// cliOutput is what one run of the CLI printed.
type cliOutput struct {
	Stdout, Stderr string
}

// String returns all the run printed, standard output first: for failure
// messages, and for lines a command prints on either stream (the steps
// write their notes to standard error, quantize to standard output).
func (o cliOutput) String() string { return o.Stdout + o.Stderr }

// amq runs the CLI in-process with args, on a root command built for this
// run alone, and returns what it printed.
func amq(t *testing.T, args ...string) (cliOutput, error) {
	t.Helper()
	root := rootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return cliOutput{Stdout: out.String(), Stderr: errb.String()}, err
}

// mustAmq runs the CLI as amq does and stops the test when the command
// fails: for the steps a test needs done before what it checks.
func mustAmq(t *testing.T, args ...string) cliOutput {
	t.Helper()
	out, err := amq(t, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", args[0], err, out)
	}
	return out
}
