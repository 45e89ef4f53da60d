package quant

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	rec := Record{
		"/c1/Conv": {ScaleD: 0.0123, OffsetD: -3, ScaleW: []float32{0.002, 0.0017}, OffsetW: []int32{0, 0},
			ShiftBit: []uint32{0, 0}, BalanceFactor: []float32{1.7, 0.25, 3}, DstType: "INT8", HasQuant: true},
		"/fc/Gemm":  {ScaleD: 1e-5, OffsetD: 127, ScaleW: []float32{3.5e-4}, OffsetW: []int32{0}, HasQuant: true, SkipFusion: true},
		`we"ird\né`: {BalanceFactor: []float32{1, 2}},
	}
	p := filepath.Join(t.TempDir(), "record.txt")
	if err := WriteRecord(p, rec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	back, err := ReadRecord(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Errorf("round trip:\n%v\n%v", back, rec)
	}
	text := string(b)
	if !strings.HasPrefix(text, "record {\n  key: \"/c1/Conv\"\n  value {\n    scale_d: 0.0123\n    offset_d: -3\n    scale_w: 0.002\n") {
		t.Errorf("layout:\n%s", text)
	}
	again, _ := MarshalRecord(back)
	if string(again) != text {
		t.Error("record output not deterministic")
	}
}

func TestParseRecordErrorsNameLineLayerAndField(t *testing.T) {
	t.Parallel()
	head := "record {\n  key: \"L\"\n  value {\n    scale_d: 0.5\n    offset_d: 3\n"
	tail := "  }\n}\n"
	cases := []struct{ body, want string }{
		{"    scale_w: 0.1\n    scale_w: -0.1\n", `line 7: layer "L": scale_w[1]: -0.1`},
		{"    scale_w: 0.1\n    offset_w: 2\n", `line 7: layer "L": offset_w[0]: 2`},
		{"    scale_w: inf\n", `line 6: layer "L": scale_w[0]: +Inf`},
		{"    scale_w: 0.1\n    scale_w: 0.1\n    offset_w: 0\n", `offset_w: 1 values for 2 scale_w`},
		{"    scale_w: 0.1\n    tensor_balance_factor: 1e-9\n", `line 7: layer "L": tensor_balance_factor[0]`},
		{"    scale_w: 0.1\n    bogus: 1\n", `7:5`},
		{"", `scale_w: missing`},
	}
	for _, c := range cases {
		_, err := ParseRecord([]byte(head + c.body + tail))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := ParseRecord([]byte("record {\n  key: \"L\"\n  value {\n    scale_d: 0\n  }\n}\n")); err == nil || !strings.Contains(err.Error(), `line 4: layer "L": scale_d: 0`) {
		t.Errorf("zero scale_d: %v", err)
	}
	if _, err := ParseRecord([]byte("record {\n  key: \"L\"\n  value {\n    scale_d: 1 offset_d: 300 scale_w: 1\n  }\n}\n")); err == nil || !strings.Contains(err.Error(), `line 4: layer "L": offset_d: 300`) {
		t.Errorf("offset_d range: %v", err)
	}
	dup := "record { key: \"L\" value { tensor_balance_factor: 1 } }\nrecord { key: \"L\" value { tensor_balance_factor: 1 } }\n"
	if _, err := ParseRecord([]byte(dup)); err == nil || !strings.Contains(err.Error(), `line 2: layer "L": recorded twice`) {
		t.Errorf("duplicate: %v", err)
	}
}
