package quant

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"amq/internal/atomicfile"
	"amq/onnx"
	"amq/quant/statspb"
)

// Stats files (docs/design.md "Sharded statistics").
const (
	statsMagic = "amq-stats"
	// StatsFormatVersion is the version of stats.proto's layout and
	// meaning that this amq writes and reads; a file of another version
	// is refused.
	StatsFormatVersion = 1
)

// StatsIdentity is what a stats file must agree with to be merged: the
// amq build, the model and config files (by SHA-256 of their bytes) and the
// batch size. The CLI fills it from the files it is given.
type StatsIdentity struct {
	Version      string // amq's version (report.Versions().AMQ)
	ModelSHA256  []byte
	ConfigSHA256 []byte
	BatchSize    int // samples per batch; 0 when unknown (merge)
}

// FileSHA256 returns the SHA-256 of a file's bytes.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// header returns the header of a shard's stats file.
func (id StatsIdentity) header(phase statspb.Phase, shard Shard, batches int) *statspb.Header {
	return &statspb.Header{
		Magic: statsMagic, FormatVersion: StatsFormatVersion, AmqVersion: id.Version,
		Phase: phase, ModelSha256: id.ModelSHA256, ConfigSha256: id.ConfigSHA256,
		Shard: uint32(shard.Index), Shards: uint32(shard.Count),
		Batches: uint32(batches), BatchSize: uint32(id.BatchSize),
	}
}

// balanceDigest is the SHA-256 of rec's balance factors: the record of
// its entries with tensor_balance_factor alone.
func balanceDigest(rec Record) ([]byte, error) {
	bal := Record{}
	for name, r := range rec {
		if r != nil {
			bal[name] = &LayerRecord{BalanceFactor: r.BalanceFactor}
		}
	}
	b, err := MarshalRecord(bal)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// sortObsKeys sorts observed activations by tensor, then axis.
func sortObsKeys(keys []obsKey) {
	slices.SortFunc(keys, func(a, b obsKey) int {
		return cmp.Or(strings.Compare(a.tensor, b.tensor), cmp.Compare(a.axis, b.axis))
	})
}

// statsWriter writes a stats file under a temporary name; commit puts it
// in place with its footer.
type statsWriter struct {
	f   *atomicfile.File
	w   *bufio.Writer
	buf []byte
}

// createStats starts the stats file path with header h.
func createStats(path string, h *statspb.Header) (*statsWriter, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	w := &statsWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	if err := w.write(h); err != nil {
		f.Abort()
		return nil, err
	}
	return w, nil
}

func (w *statsWriter) write(m proto.Message) error {
	_, err := protodelim.MarshalTo(w.w, m)
	return err
}

// writeBatch writes the tensors of one batch, in the header's order.
func (w *statsWriter) writeBatch(batch int, tensors []string, out map[string]*onnx.Tensor) error {
	for i, name := range tensors {
		t, err := outputTensor(out, name)
		if err != nil {
			return err
		}
		x, err := onnx.Data[float32](t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		w.buf = slices.Grow(w.buf[:0], 4*len(x))[:4*len(x)]
		nz, zeros, neg := 0, 0, 0
		for _, v := range x {
			switch b := math.Float32bits(v); b {
			case 0:
				zeros++
			case 1 << 31:
				neg++
			default:
				binary.LittleEndian.PutUint32(w.buf[4*nz:], b)
				nz++
			}
		}
		shape := make([]int64, len(t.Shape))
		for k, d := range t.Shape {
			shape[k] = int64(d)
		}
		v := &statspb.Values{Batch: uint32(batch), Tensor: uint32(i), Shape: shape, Data: w.buf[:4*nz],
			Zeros: uint64(zeros), NegativeZeros: uint64(neg)}
		if err := w.write(v); err != nil {
			return err
		}
	}
	return nil
}

// commit writes the footer and puts the file in place.
func (w *statsWriter) commit(foot *statspb.Footer) error {
	if err := w.write(foot); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	return w.f.Commit()
}

// abort removes the temporary file unless commit succeeded.
func (w *statsWriter) abort() { w.f.Abort() }

// statsReader reads a stats file message by message.
type statsReader struct {
	path string
	f    *os.File
	r    *bufio.Reader
	h    *statspb.Header
}

// openStats opens a stats file and reads and checks its header's magic
// and format version.
func openStats(path string) (*statsReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &statsReader{path: path, f: f, r: bufio.NewReaderSize(f, 1<<20)}
	h := &statspb.Header{}
	if err := s.next(h); err != nil || h.Magic != statsMagic {
		f.Close()
		return nil, fmt.Errorf("%s: not an amq stats file", path)
	}
	if h.FormatVersion != StatsFormatVersion {
		f.Close()
		return nil, fmt.Errorf("%s: stats format version %d (written by amq %s); this amq reads version %d: merge with the amq that wrote it", path, h.FormatVersion, h.AmqVersion, StatsFormatVersion)
	}
	s.h = h
	return s, nil
}

// next reads the next message into m; the end of the file before it is a
// truncated file.
func (s *statsReader) next(m proto.Message) error {
	err := protodelim.UnmarshalOptions{MaxSize: -1}.UnmarshalFrom(s.r, m)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: truncated: the file ends before its last message (was its shard killed?)", s.path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// footer reads the footer and checks that nothing follows it and that the
// shard ran want batches.
func (s *statsReader) footer(want int) (*statspb.Footer, error) {
	foot := &statspb.Footer{}
	if err := s.next(foot); err != nil {
		return nil, err
	}
	if _, err := s.r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the end of the statistics", s.path)
	}
	if int(foot.Batches) != want {
		return nil, fmt.Errorf("%s: holds %d batches, shard %d/%d of %d batches runs %d", s.path, foot.Batches, s.h.Shard, s.h.Shards, s.h.Batches, want)
	}
	return foot, nil
}

func (s *statsReader) close() { s.f.Close() }

// maxStatsValues bounds the values of one tensor of one batch in a stats
// file.
const maxStatsValues = 1 << 31

// values reads the next tensor of batch and checks its place.
func (s *statsReader) values(batch, tensor int) (*onnx.Tensor, error) {
	v := &statspb.Values{}
	if err := s.next(v); err != nil {
		return nil, err
	}
	if int(v.Batch) != batch || int(v.Tensor) != tensor {
		return nil, fmt.Errorf("%s: found batch %d tensor %d where batch %d tensor %d belongs", s.path, v.Batch, v.Tensor, batch, tensor)
	}
	shape := make([]int, len(v.Shape))
	n := 1
	for k, d := range v.Shape {
		if d < 0 {
			return nil, fmt.Errorf("%s: batch %d: negative dimension", s.path, batch)
		}
		// A corrupt count must not become a huge allocation: no tensor
		// of one batch holds 2³¹ values.
		if d > 0 && int64(n) > maxStatsValues/d {
			return nil, fmt.Errorf("%s: batch %d tensor %q: shape %v holds more than %d values", s.path, batch, s.h.Tensors[tensor], v.Shape, int64(maxStatsValues))
		}
		shape[k] = int(d)
		n *= int(d)
	}
	nz := len(v.Data) / 4
	if len(v.Data)%4 != 0 || uint64(nz)+v.Zeros+v.NegativeZeros != uint64(n) {
		return nil, fmt.Errorf("%s: batch %d tensor %q: %d bytes and %d zeros for shape %v", s.path, batch, s.h.Tensors[tensor], len(v.Data), v.Zeros+v.NegativeZeros, shape)
	}
	// The zeros go after the other values: no calibrator's state depends
	// on where a zero was (docs/design.md "Sharded statistics").
	x := make([]float32, n)
	for k := range nz {
		x[k] = math.Float32frombits(binary.LittleEndian.Uint32(v.Data[4*k:]))
	}
	for k := nz + int(v.Zeros); k < n; k++ {
		x[k] = float32(math.Copysign(0, -1))
	}
	t := onnx.NewTensor(shape, x)
	t.Name = s.h.Tensors[tensor]
	return t, nil
}
