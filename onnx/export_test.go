package onnx

// SetMapMin sets the size from which LoadFile maps files, for tests, and
// returns a function that restores it.
func SetMapMin(n int64) (restore func()) {
	old := mapMin
	mapMin = n
	return func() { mapMin = old }
}
