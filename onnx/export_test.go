package onnx

// ConformanceDir is where Debian's libonnx-testdata installs ONNX's backend
// test suite. It is exported here, in a test file, because the tests that
// need it live both in package onnx (the fuzz seeds) and in onnx_test (the
// suite's checks, which use testfixture, itself an importer of onnx).
const ConformanceDir = "/usr/include/onnx/backend/test/data"
