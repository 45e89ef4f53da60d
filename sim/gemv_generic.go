//go:build !amd64 || purego

package sim

func gemvVec(kern microKernel, a, b []float32, ldb int, c []float32) bool { return false }

func gemvFor(kern microKernel) bool { return false }
