package testfixture

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"amq/onnx"
	"amq/onnx/onnxpb"
)

// ConformanceDir is where Debian's libonnx-testdata installs ONNX's own
// backend conformance suite: <suite>/<case>/model.onnx with
// test_data_set_N/input_K.pb and output_K.pb.
const ConformanceDir = "/usr/include/onnx/backend/test/data"

// Conformance returns the path of ConformanceDir/<elem...>, ending the test
// with Missing when it does not exist.
func Conformance(tb testing.TB, elem ...string) string {
	tb.Helper()
	path := filepath.Join(append([]string{ConformanceDir}, elem...)...)
	if _, err := os.Stat(path); err != nil {
		Missing(tb, "ONNX test data not installed (package libonnx-testdata): %v", err)
	}
	return path
}

// ReadTensorPB reads a file holding one serialized TensorProto, as the
// conformance suite stores its inputs and outputs.
func ReadTensorPB(path string) (*onnx.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p onnxpb.TensorProto
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := onnx.TensorFromProto(&p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
