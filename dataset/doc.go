// Package dataset reads calibration data as users keep it and serves it to
// the flow as a quant.DataSource: NumPy .npy and .npz arrays of any numeric
// type, a folder of PNG and JPEG images with the model's preprocessing, and
// the raw .bin files that AMCT and msame take.
//
// Open checks everything that can be checked before the first forward
// pass: every model input gets data; the data's shape fits the input's in
// every dimension the model fixes but the batch one; its type converts to
// the input's (float to the input's float type, integers to integer inputs,
// each value checked to fit); every image decodes and the images agree in
// size; every .bin file holds whole samples. Errors name the file and the
// input. Images and .bin files are read again per batch, so memory holds
// one batch of them, not the data set.
//
// Errors and notes name amq's command-line flags (--batch-size,
// --image-size, --input-shape ...), the one spelling of these options users
// see.
package dataset
