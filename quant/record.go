package quant

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/prototext"

	"amq/internal/atomicfile"
	"amq/quant/recordpb"
)

// FLT_EPSILON bounds the balance factors: a factor must lie in
// [fltEpsilon, 1/fltEpsilon].
const fltEpsilon = 0x1p-23

// ReadRecord reads and validates a record file. Errors name the layer, the
// field and its line.
func ReadRecord(path string) (Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRecord decodes and validates a record in protobuf text format.
func ParseRecord(data []byte) (Record, error) {
	var p recordpb.ScaleOffsetRecord
	if err := prototext.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	lines := recordLines(data)
	rec := Record{}
	for i, e := range p.GetRecord() {
		key := e.GetKey()
		at := func(field string, k int) string {
			if l := lines.line(i, field, k); l > 0 {
				return fmt.Sprintf("line %d: ", l)
			}
			if l := lines.line(i, "key", 0); l > 0 {
				return fmt.Sprintf("line %d: ", l)
			}
			return ""
		}
		if key == "" {
			return nil, fmt.Errorf("%srecord %d has no key", at("key", 0), i)
		}
		if _, dup := rec[key]; dup {
			return nil, fmt.Errorf("%slayer %q: recorded twice", at("key", 0), key)
		}
		v := e.GetValue()
		if v == nil {
			return nil, fmt.Errorf("%slayer %q: record has no value", at("key", 0), key)
		}
		lr := &LayerRecord{
			ScaleD:        v.GetScaleD(),
			OffsetD:       v.GetOffsetD(),
			ScaleW:        v.GetScaleW(),
			OffsetW:       v.GetOffsetW(),
			ShiftBit:      v.GetShiftBit(),
			BalanceFactor: v.GetTensorBalanceFactor(),
			SkipFusion:    v.GetSkipFusion(),
			DstType:       v.GetDstType(),
			ActType:       v.GetActType(),
			WtsType:       v.GetWtsType(),
			HasQuant:      v.ScaleD != nil,
		}
		if err := lr.validate(); err != nil {
			var fe *recordFieldError
			if errors.As(err, &fe) {
				return nil, fmt.Errorf("%slayer %q: %w", at(fe.field, fe.index), key, err)
			}
			return nil, fmt.Errorf("layer %q: %w", key, err)
		}
		rec[key] = lr
	}
	return rec, nil
}

// recordFieldError is a validation error about element index of a field.
type recordFieldError struct {
	field string
	index int
	msg   string
}

func (e *recordFieldError) Error() string {
	if e.index >= 0 {
		return fmt.Sprintf("%s[%d]: %s", e.field, e.index, e.msg)
	}
	return e.field + ": " + e.msg
}

// validate checks one layer's values (docs/design.md "Record file").
func (r *LayerRecord) validate() error {
	bad := func(field string, i int, format string, args ...any) error {
		return &recordFieldError{field, i, fmt.Sprintf(format, args...)}
	}
	positive := func(f float32) bool { return f > 0 && !math.IsInf(float64(f), 0) }
	if r.HasQuant {
		if !positive(r.ScaleD) {
			return bad("scale_d", -1, "%g, must be positive and finite", r.ScaleD)
		}
		if r.OffsetD < -128 || r.OffsetD > 127 {
			return bad("offset_d", -1, "%d, outside int8 [-128, 127]", r.OffsetD)
		}
		if len(r.ScaleW) == 0 {
			return bad("scale_w", -1, "missing (scale_d is set)")
		}
	} else if len(r.ScaleW) > 0 || len(r.OffsetW) > 0 {
		return bad("scale_d", -1, "missing (scale_w is set)")
	}
	for i, s := range r.ScaleW {
		if !positive(s) {
			return bad("scale_w", i, "%g, must be positive and finite", s)
		}
	}
	if len(r.OffsetW) != 0 && len(r.OffsetW) != len(r.ScaleW) {
		return bad("offset_w", -1, "%d values for %d scale_w", len(r.OffsetW), len(r.ScaleW))
	}
	for i, o := range r.OffsetW {
		if o != 0 {
			return bad("offset_w", i, "%d, weights are symmetric (must be 0)", o)
		}
	}
	if len(r.ShiftBit) != 0 && len(r.ShiftBit) != len(r.ScaleW) {
		return bad("shift_bit", -1, "%d values for %d scale_w", len(r.ShiftBit), len(r.ScaleW))
	}
	for i, f := range r.BalanceFactor {
		if !(f >= fltEpsilon && f <= 1/fltEpsilon) {
			return bad("tensor_balance_factor", i, "%g, outside [FLT_EPSILON, 1/FLT_EPSILON]", f)
		}
	}
	return nil
}

// WriteRecord writes rec to path in protobuf text format, in AMCT's layout,
// layers sorted by name, atomically.
func WriteRecord(path string, rec Record) error {
	b, err := MarshalRecord(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, b)
}

// MarshalRecord encodes rec in protobuf text format, deterministically
// (prototext's own output deliberately varies between runs).
func MarshalRecord(rec Record) ([]byte, error) {
	names := slices.Sorted(maps.Keys(rec))
	var b bytes.Buffer
	for _, name := range names {
		r := rec[name]
		if r == nil {
			return nil, fmt.Errorf("layer %q: nil record", name)
		}
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("layer %q: %w", name, err)
		}
		b.WriteString("record {\n  key: ")
		writeTextString(&b, name)
		b.WriteString("\n  value {\n")
		field := func(f, v string) { fmt.Fprintf(&b, "    %s: %s\n", f, v) }
		float := func(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }
		if r.HasQuant {
			field("scale_d", float(r.ScaleD))
			field("offset_d", strconv.Itoa(int(r.OffsetD)))
			for _, s := range r.ScaleW {
				field("scale_w", float(s))
			}
			offW := r.OffsetW
			if len(offW) == 0 {
				offW = make([]int32, len(r.ScaleW))
			}
			for _, o := range offW {
				field("offset_w", strconv.Itoa(int(o)))
			}
			for _, s := range r.ShiftBit {
				field("shift_bit", strconv.FormatUint(uint64(s), 10))
			}
		}
		for _, f := range r.BalanceFactor {
			field("tensor_balance_factor", float(f))
		}
		if r.SkipFusion {
			field("skip_fusion", "true")
		}
		for _, kv := range [][2]string{{"dst_type", r.DstType}, {"act_type", r.ActType}, {"wts_type", r.WtsType}} {
			if kv[1] != "" {
				var s bytes.Buffer
				writeTextString(&s, kv[1])
				field(kv[0], s.String())
			}
		}
		b.WriteString("  }\n}\n")
	}
	return b.Bytes(), nil
}

// writeTextString writes s as a text-format string literal. UTF-8 stays as
// is; quotes, backslashes and control bytes are escaped in octal, which
// every text-format parser reads.
func writeTextString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// fieldLines locates values in a record text: for record entry i, field f,
// the line of each value in order.
type fieldLines map[int]map[string][]int

func (fl fieldLines) line(entry int, field string, k int) int {
	if k < 0 {
		k = 0
	}
	if l := fl[entry][field]; k < len(l) {
		return l[k]
	}
	return 0
}

// recordLines scans a record text (already known to parse) for the lines of
// the fields of each record entry, so that validation errors can point into
// the file.
func recordLines(data []byte) fieldLines {
	type token struct {
		s    string
		line int
	}
	var toks []token
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == ';':
			i++
		case c == '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(data) && data[j] != c {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			toks = append(toks, token{string(data[i:min(j+1, len(data))]), line})
			i = j + 1
		case c == '{' || c == '}' || c == '<' || c == '>' || c == ':' || c == '[' || c == ']':
			toks = append(toks, token{string(c), line})
			i++
		default:
			j := i
			for j < len(data) && !bytes.ContainsRune([]byte(" \t\r\n,;#{}<>:[]\"'"), rune(data[j])) {
				j++
			}
			toks = append(toks, token{string(data[i:j]), line})
			i = j
		}
	}
	fl := fieldLines{}
	entry := -1
	var stack []string // open message field names
	for i := 0; i < len(toks); i++ {
		t := toks[i].s
		switch t {
		case "{", "<":
			name := ""
			if i > 0 {
				name = toks[i-1].s
				if name == ":" && i > 1 {
					name = toks[i-2].s
				}
			}
			stack = append(stack, name)
			if len(stack) == 1 && name == "record" {
				entry++
				fl[entry] = map[string][]int{}
			}
			continue
		case "}", ">":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		inEntry := len(stack) == 1 && stack[0] == "record"
		inValue := len(stack) == 2 && stack[0] == "record" && stack[1] == "value"
		if !(inEntry || inValue) || entry < 0 || i+2 >= len(toks) || toks[i+1].s != ":" {
			continue
		}
		if toks[i+2].s == "{" || toks[i+2].s == "<" {
			continue
		}
		field := t
		if toks[i+2].s == "[" {
			j := i + 3
			for ; j < len(toks) && toks[j].s != "]"; j++ {
				fl[entry][field] = append(fl[entry][field], toks[j].line)
			}
			i = j
			continue
		}
		fl[entry][field] = append(fl[entry][field], toks[i+2].line)
		i += 2
	}
	return fl
}
