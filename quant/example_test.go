package quant_test

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"amq/onnx"
	"amq/quant"
	"amq/sim"
)

// gemmModel builds y = Gemm(Relu(Gemm(x, W1, b1)), W2, b2) for batches of 4
// samples of 8 features, with fixed pseudo-random weights.
func gemmModel(rng *rand.Rand) *onnx.Model {
	tensor := func(name string, shape ...int) *onnx.Tensor {
		d := make([]float32, onnx.NumElems(shape))
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.5)
		}
		t := onnx.NewTensor(shape, d)
		t.Name = name
		return t
	}
	init := map[string]*onnx.Tensor{}
	for _, t := range []*onnx.Tensor{tensor("W1", 16, 8), tensor("b1", 16), tensor("W2", 3, 16), tensor("b2", 3)} {
		init[t.Name] = t
	}
	transB := map[string]*onnx.Attr{"transB": {Name: "transB", Type: onnx.AttrInt, I: 1}}
	return &onnx.Model{
		IRVersion: 8,
		Opsets:    map[string]int64{"": 13},
		Graph: &onnx.Graph{
			Name: "mlp",
			Nodes: []*onnx.Node{
				{Name: "fc1", OpType: "Gemm", Inputs: []string{"x", "W1", "b1"}, Outputs: []string{"h"}, Attrs: transB},
				{Name: "relu", OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"r"}},
				{Name: "fc2", OpType: "Gemm", Inputs: []string{"r", "W2", "b2"}, Outputs: []string{"y"}, Attrs: transB},
			},
			Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{4, 8})}},
			Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
			Initializers: init,
		},
	}
}

// ExampleRunFlow quantizes a small two-layer Gemm model end to end: the
// default config (no DMQ balancing), calibration on 4 batches of 4 samples
// (BatchNum overrides the config's default of 1), and the fake-quant and
// deploy models, evaluated on sim.
func ExampleRunFlow() {
	rng := rand.New(rand.NewPCG(1, 2))
	m := gemmModel(rng)
	x := make([]float32, 16*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	data, err := quant.NewTensorSource(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{16, 8}, x)}, 4)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "quant-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	rep, err := quant.RunFlow(m, &sim.Backend{}, data, filepath.Join(dir, "mlp"), quant.QuantizeOptions{BatchNum: 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("batches:", rep.Batches)
	for _, l := range rep.Layers {
		pos := l.ScaleD > 0
		for _, s := range l.ScaleW {
			pos = pos && s > 0
		}
		fmt.Printf("%s %s balance %s, scales positive: %v, SQNR above 20 dB: %v\n", l.Name, l.Type, l.Balance, pos, l.SQNR > 20)
	}
	for _, p := range []string{rep.FakeQuantPath, rep.DeployPath, rep.ConfigPath, rep.RecordPath} {
		fmt.Println(filepath.Base(p))
	}
	deploy, err := onnx.LoadFile(rep.DeployPath)
	if err != nil {
		log.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range deploy.Graph.Nodes {
		ops[n.OpType]++
	}
	fmt.Println("deploy AscendQuant nodes:", ops["AscendQuant"], "AscendDequant nodes:", ops["AscendDequant"])
	// Output:
	// batches: 4
	// fc1 Gemm balance none, scales positive: true, SQNR above 20 dB: true
	// fc2 Gemm balance none, scales positive: true, SQNR above 20 dB: true
	// mlp_fake_quant_model.onnx
	// mlp_deploy_model.onnx
	// mlp_quant_config.json
	// mlp_record.txt
	// deploy AscendQuant nodes: 2 AscendDequant nodes: 2
}

// ExampleScaleOffset derives int8 quantization factors for activations in
// [-1, 3] and quantizes one value with them.
func ExampleScaleOffset() {
	s, o := quant.ScaleOffset(-1, 3, true) // s = 4/255, o = round(-128 + 1/s)
	q := quant.Quantize(0.5, s, o)
	fmt.Printf("asymmetric: scale %.6f offset %d, 0.5 -> %d -> %.4f\n", s, o, q, quant.Dequantize(q, s, o))
	s, o = quant.ScaleOffset(-1, 3, false) // s = 3/127
	fmt.Printf("symmetric: scale %.6f offset %d, 0 -> %d\n", s, o, quant.Quantize(0, s, o))
	// Output:
	// asymmetric: scale 0.015686 offset -64, 0.5 -> -32 -> 0.5020
	// symmetric: scale 0.023622 offset 0, 0 -> 0
}

// ExampleParseSimpleConfig reads a simplified config in AMCT's .cfg format
// (protobuf text); unset fields keep AMCT's defaults.
func ExampleParseSimpleConfig() {
	cfg, err := quant.ParseSimpleConfig([]byte(`
batch_num: 2
skip_layers: "fc2"
`), "example.cfg")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.GetBatchNum(), cfg.GetSkipLayers(), cfg.GetActivationOffset(), cfg.GetDoFusion())

	_, err = quant.ParseSimpleConfig([]byte("batch_num: 0\n"), "bad.cfg")
	fmt.Println(err)
	// Output:
	// 2 [fc2] true true
	// bad.cfg: batch_num: must be at least 1
}

// ExampleCalibrate runs the flow step by step, as AMCT's API does:
// create the config (here skipping layer fc2), find the layers, calibrate
// on sim and save the models.
func ExampleCalibrate() {
	rng := rand.New(rand.NewPCG(3, 4))
	m := gemmModel(rng)
	x := make([]float32, 8*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	data, err := quant.NewTensorSource(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{8, 8}, x)}, 4)
	if err != nil {
		log.Fatal(err)
	}

	cfg, excl, err := quant.CreateQuantConfig(m, nil, []string{"fc2"}, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("excluded:", excl[0].Layer, "by", excl[0].Rule)
	layers, _, err := quant.FindLayers(m, quant.FindOptions{})
	if err != nil {
		log.Fatal(err)
	}
	rec := quant.Record{}
	if err := quant.Calibrate(m, layers, cfg, rec, &sim.Backend{}, data); err != nil {
		log.Fatal(err)
	}
	fc1 := rec["fc1"]
	fmt.Println("fc1 recorded:", fc1 != nil, "scale_d > 0:", fc1.ScaleD > 0, "weight scales:", len(fc1.ScaleW))

	dir, err := os.MkdirTemp("", "quant-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rep, err := quant.Save(m, layers, cfg, rec, filepath.Join(dir, "mlp"), quant.SaveOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("quantized:", rep.Quantized)
	// Output:
	// excluded: fc2 by skip_layers in config
	// fc1 recorded: true scale_d > 0: true weight scales: 1
	// quantized: [fc1]
}
