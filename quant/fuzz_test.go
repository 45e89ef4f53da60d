package quant

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// seedFiles adds every file matching the patterns to f's corpus.
func seedFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzParseRecord: any input is rejected with an error or parsed into a
// record that marshals and parses back to the same bytes.
func FuzzParseRecord(f *testing.F) {
	seedFiles(f, "../testdata/quant/*/amct/*/record.txt")
	f.Add([]byte(`record { key: "a" value { scale_d: 1 offset_d: 0 scale_w: 0.5 offset_w: 0 } }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseRecord(data)
		if err != nil {
			return
		}
		b, err := MarshalRecord(rec)
		if err != nil {
			t.Fatalf("parsed record does not marshal: %v", err)
		}
		rec2, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("marshalled record does not parse: %v\n%s", err, b)
		}
		b2, _ := MarshalRecord(rec2)
		if !bytes.Equal(b, b2) {
			t.Fatalf("record changes on a round trip:\n%s\n%s", b, b2)
		}
	})
}

// FuzzParseConfig: the JSON quant config parser never panics, and what it
// accepts round-trips.
func FuzzParseConfig(f *testing.F) {
	seedFiles(f, "../testdata/quant/*/amct/*/config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("parsed config does not marshal: %v", err)
		}
		c2, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("marshalled config does not parse: %v\n%s", err, b)
		}
		b2, _ := c2.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("config changes on a round trip:\n%s\n%s", b, b2)
		}
	})
}

// FuzzParseSimpleConfig: the .cfg parser never panics.
func FuzzParseSimpleConfig(f *testing.F) {
	seedFiles(f, "../testdata/quant/*.cfg")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseSimpleConfig(data, "fuzz.cfg")
	})
}
