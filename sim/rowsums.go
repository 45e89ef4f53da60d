package sim

// Sums along rows, each in the order of a plain loop over its row (so the
// bits are those of that loop), eight rows at a time: a float64 sum of one
// row is a chain of dependent additions, each waiting for the one before
// (about 4 cycles each), while eight independent chains keep the adder
// busy. LayerNormalization's mean and variance and Softmax's sum spent
// most of their time waiting on those chains.

// rowGroup is the number of rows summed together. With AVX-512 a vector
// of eight float64 holds one partial sum per row (sumRows8Vec).
const rowGroup = 8

// sumRows8 sets s[k] to 0 + float64(x[k*size]) + float64(x[k*size+1]) +
// ..., summed from left to right, for the eight rows k of x (viewed as
// [8, size]).
func sumRows8[T floatElem](x []T, size int, s *[rowGroup]float64) {
	x0 := x[:size]
	x1, x2, x3 := x[size : 2*size][:len(x0)], x[2*size : 3*size][:len(x0)], x[3*size : 4*size][:len(x0)]
	x4, x5, x6, x7 := x[4*size : 5*size][:len(x0)], x[5*size : 6*size][:len(x0)], x[6*size : 7*size][:len(x0)], x[7*size : 8*size][:len(x0)]
	k := sumRows8Vec(x, size, nil, s)
	if k == 0 {
		*s = [rowGroup]float64{}
	}
	s0, s1, s2, s3, s4, s5, s6, s7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i := k; i < len(x0); i++ {
		v := x0[i]
		s0 += float64(v)
		s1 += float64(x1[i])
		s2 += float64(x2[i])
		s3 += float64(x3[i])
		s4 += float64(x4[i])
		s5 += float64(x5[i])
		s6 += float64(x6[i])
		s7 += float64(x7[i])
	}
	*s = [rowGroup]float64{s0, s1, s2, s3, s4, s5, s6, s7}
}

// sqDevRows8 sets s[k] to the left-to-right sum of float64(d*d), d =
// float64(v) - m[k], over the values v of row k of x (viewed as [8,
// size]).
func sqDevRows8[T floatElem](x []T, size int, m *[rowGroup]float64, s *[rowGroup]float64) {
	x0 := x[:size]
	x1, x2, x3 := x[size : 2*size][:len(x0)], x[2*size : 3*size][:len(x0)], x[3*size : 4*size][:len(x0)]
	x4, x5, x6, x7 := x[4*size : 5*size][:len(x0)], x[5*size : 6*size][:len(x0)], x[6*size : 7*size][:len(x0)], x[7*size : 8*size][:len(x0)]
	m0, m1, m2, m3, m4, m5, m6, m7 := m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
	k := sumRows8Vec(x, size, m, s)
	if k == 0 {
		*s = [rowGroup]float64{}
	}
	s0, s1, s2, s3, s4, s5, s6, s7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i := k; i < len(x0); i++ {
		v := x0[i]
		d0 := float64(v) - m0
		d1 := float64(x1[i]) - m1
		d2 := float64(x2[i]) - m2
		d3 := float64(x3[i]) - m3
		d4 := float64(x4[i]) - m4
		d5 := float64(x5[i]) - m5
		d6 := float64(x6[i]) - m6
		d7 := float64(x7[i]) - m7
		s0 += float64(d0 * d0)
		s1 += float64(d1 * d1)
		s2 += float64(d2 * d2)
		s3 += float64(d3 * d3)
		s4 += float64(d4 * d4)
		s5 += float64(d5 * d5)
		s6 += float64(d6 * d6)
		s7 += float64(d7 * d7)
	}
	*s = [rowGroup]float64{s0, s1, s2, s3, s4, s5, s6, s7}
}
