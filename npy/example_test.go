package npy_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"amq/npy"
	"amq/onnx"
)

// Example writes a tensor to a .npy file and reads it back.
func Example() {
	dir, err := os.MkdirTemp("", "npy-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.npy")

	x := onnx.NewTensor([]int{2, 3}, []float32{0.5, -1, 2, 3.25, 0, -4})
	if err := npy.WriteFile(path, x); err != nil {
		log.Fatal(err)
	}
	y, err := npy.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(y.DType, y.Shape, y.Floats())
	// Output:
	// FLOAT [2 3] [0.5 -1 2 3.25 0 -4]
}

// ExampleWrite shows the NumPy header that Write produces, as
// numpy.save writes it (the same 160 bytes for this array).
func ExampleWrite() {
	var buf bytes.Buffer
	if err := npy.Write(&buf, onnx.NewTensor([]int{4}, []int64{1, 2, 3, 4})); err != nil {
		log.Fatal(err)
	}
	b := buf.Bytes()
	hlen := int(b[8]) | int(b[9])<<8
	fmt.Printf("%q\n", bytes.TrimRight(b[10:10+hlen], " \n"))
	fmt.Println("header+data bytes:", len(b), "=", 10+hlen, "+", 4*8)
	// Output:
	// "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }"
	// header+data bytes: 160 = 128 + 32
}

// ExampleReadNPZFile reads an archive as numpy.savez writes it: a zip file
// with one "<name>.npy" entry per array.
func ExampleReadNPZFile() {
	dir, err := os.MkdirTemp("", "npy-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "batch.npz")

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, t := range map[string]*onnx.Tensor{
		"input_ids": onnx.NewTensor([]int{1, 3}, []int64{101, 7, 102}),
		"mask":      onnx.NewTensor([]int{1, 3}, []bool{true, true, false}),
	} {
		w, err := zw.Create(name + ".npy")
		if err != nil {
			log.Fatal(err)
		}
		if err := npy.Write(w, t); err != nil {
			log.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}

	arrays, err := npy.ReadNPZFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(arrays["input_ids"].DType, arrays["input_ids"].Int64s())
	fmt.Println(arrays["mask"].DType, arrays["mask"].Data)
	// Output:
	// INT64 [101 7 102]
	// BOOL [true true false]
}
