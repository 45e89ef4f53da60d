package backend

import (
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

type nopBackend struct{ opt Options }

func (nopBackend) Prepare(*onnx.Model, []string) (Runner, error) { return nil, nil }

func TestOpenPassesOptionsToTheRegisteredBackend(t *testing.T) {
	Register("test-open", func(o Options) (Backend, error) { return nopBackend{o}, nil })
	b, err := Open("test-open", Options{Threads: 3, Devices: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.(nopBackend).opt; got.Threads != 3 || !slices.Equal(got.Devices, []int{1}) {
		t.Errorf("backend opened with %+v", got)
	}
	if !Registered("test-open") || !slices.Contains(Names(), "test-open") {
		t.Errorf("Registered/Names do not list test-open: %v", Names())
	}
}

func TestOpenUnknownNameListsAvailable(t *testing.T) {
	Register("test-listed", func(Options) (Backend, error) { return nopBackend{}, nil })
	_, err := Open("tpu", Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown backend "tpu"`) || !strings.Contains(err.Error(), "test-listed") {
		t.Errorf("Open(tpu) error %v, want the name and the available backends", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	Register("test-twice", func(Options) (Backend, error) { return nopBackend{}, nil })
	defer func() {
		if recover() == nil {
			t.Error("second Register of one name did not panic")
		}
	}()
	Register("test-twice", func(Options) (Backend, error) { return nopBackend{}, nil })
}

func TestNamesAreSorted(t *testing.T) {
	Register("test-zz", func(Options) (Backend, error) { return nopBackend{}, nil })
	Register("test-aa", func(Options) (Backend, error) { return nopBackend{}, nil })
	if n := Names(); !slices.IsSorted(n) {
		t.Errorf("Names() = %v, not sorted", n)
	}
}

func TestParseDevices(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  string
	}{
		{"0", []int{0}, ""},
		{"0, 1,3", []int{0, 1, 3}, ""},
		{"1,1", nil, "listed twice"},
		{"-1", nil, "bad device id"},
		{"a", nil, "bad device id"},
		{"", nil, "bad device id"},
	} {
		got, err := ParseDevices(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDevices(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseDevices(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
