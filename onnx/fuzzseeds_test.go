package onnx

// conformanceDir is testfixture.ConformanceDir, which the fuzz seeds of
// package onnx cannot import (testfixture imports onnx).
const conformanceDir = "/usr/include/onnx/backend/test/data"
