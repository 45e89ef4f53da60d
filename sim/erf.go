package sim

import "math"

// erf32 is math.Erf for arguments that come from float32 data, about five
// times faster: BERT's GELU spent a fifth of an encoder layer in math.Erf.
// Its error stays below 1e-15, so after rounding to float32 the result
// equals float32(math.Erf(x)) except in the rare case where erf(x) lies
// within that distance of a rounding boundary.
//
// For |x| < erfSplit it sums the Maclaurin series of erf, which keeps the
// relative error small near zero. Above, up to erfOne, it evaluates the
// Taylor polynomial of erf around the centre of x's interval of width
// 1/erfPerUnit; the derivatives come from erf'(x) = 2/√π·e^(-x²) and
// d^n/dx^n e^(-x²) = (-1)^n·H_n(x)·e^(-x²) with the Hermite polynomials
// H_n, so the tables are computed at start-up from math.Erf and math.Exp.
// From erfOne on, erf(x) is ±1 in float64 as it is for math.Erf.
func erf32(x float64) float64 {
	a := math.Abs(x)
	var r float64
	switch {
	case a < erfSplit:
		// Estrin's scheme: shorter dependency chains than Horner's.
		e := &erfSeries
		u := a * a
		u2 := u * u
		u4 := u2 * u2
		// float64() rounds each product: no fused multiply-add on any
		// architecture (docs/design.md "Same bits on every architecture").
		r = a * ((e[0] + float64(e[1]*u)) + float64(u2*(e[2]+float64(e[3]*u))) + float64(u4*((e[4]+float64(e[5]*u))+float64(u2*(e[6]+float64(e[7]*u))))))
	case a < erfOne:
		i := int((a - erfSplit) * erfPerUnit)
		t := a - erfCentre(i)
		c := &erfTaylor[i]
		t2 := t * t
		t4 := t2 * t2
		r = (c[0] + float64(c[1]*t)) + float64(t2*(c[2]+float64(c[3]*t))) + float64(t4*((c[4]+float64(c[5]*t))+float64(t2*(c[6]+float64(c[7]*t)))))
	case a >= erfOne:
		r = 1
	default: // NaN
		return x
	}
	return math.Copysign(r, x)
}

const (
	erfSplit   = 0.25
	erfOne     = 6 // math.Erf returns ±1 from here
	erfPerUnit = 32
	erfDegree  = 7 // Taylor remainder below 1e-16 on a half-width of 1/64
	erfPieces  = (erfOne - erfSplit) * erfPerUnit
)

var (
	// erfSeries[n] is the coefficient of a^(2n) in erf(a)/a:
	// 2/√π·(-1)^n/(n!·(2n+1)). Eight terms leave a relative remainder
	// below 4e-16 for a < 0.25.
	erfSeries [8]float64
	// erfTaylor[i][k] is erf^(k)(c)/k! for the centre c of piece i.
	erfTaylor [erfPieces][erfDegree + 1]float64
)

func erfCentre(i int) float64 { return erfSplit + float64((float64(i)+0.5)/erfPerUnit) }

func init() {
	k := 2 / math.Sqrt(math.Pi)
	fact := 1.0
	for n := range erfSeries {
		if n > 0 {
			fact *= float64(n)
		}
		c := k / (fact * float64(2*n+1))
		if n%2 == 1 {
			c = -c
		}
		erfSeries[n] = c
	}
	for i := range erfTaylor {
		c := erfCentre(i)
		g := k * math.Exp(-c*c)
		// h[n] = H_n(c): H_0 = 1, H_1 = 2c, H_{n+1} = 2c·H_n - 2n·H_{n-1}.
		var h [erfDegree]float64
		h[0] = 1
		if erfDegree > 1 {
			h[1] = 2 * c
		}
		for n := 1; n+1 < erfDegree; n++ {
			h[n+1] = float64(2*c*h[n]) - float64(2*float64(n)*h[n-1])
		}
		erfTaylor[i][0] = math.Erf(c)
		kfact := 1.0
		for d := 1; d <= erfDegree; d++ {
			kfact *= float64(d)
			// erf^(d)(c) = 2/√π · (-1)^(d-1) · H_{d-1}(c) · e^(-c²)
			v := g * h[d-1] / kfact
			if (d-1)%2 == 1 {
				v = -v
			}
			erfTaylor[i][d] = v
		}
	}
}

// erfF32 sets o[i] = float32(erf32(float64(x[i]))), the float32 Erf of
// unaryRange without its float64 buffers; len(x) >= len(o), and o may be
// x.
func erfF32(o, x []float32) { erfF32Ahead(o, x, nil, nil) }

// erfF32Ahead is erfF32 prefetching as it goes (only with AVX-512) ahead,
// the next data its caller will read, and aheadOut, the next it will
// write.
func erfF32Ahead(o, x, ahead, aheadOut []float32) {
	x = x[:len(o)]
	k := erfF32Vec(o, x, ahead, aheadOut)
	for i, v := range x[k:] {
		o[k+i] = float32(erf32(float64(v)))
	}
}
