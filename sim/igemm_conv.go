package sim

import "amq/onnx"

// The int8 Conv of deploy models on the int8 kernels (igemm.go): the
// weights are the rows operand (signed), the im2col matrix of the
// activation the columns operand (unsigned bytes u = q + 128, padding z).

// igemmChunkBytes is about how much im2col matrix a tile packs: it stays
// in L2 while every strip of weights passes over it.
const igemmChunkBytes = 192 << 10

// igemmMaxChunk bounds a tile's width in columns (zeroBytes pads the rows
// beyond k).
const igemmMaxChunk = 2048

var zeroBytes [igemmMaxChunk]byte

// byteScratch keeps the unsigned activations and the im2col matrices.
var (
	byteScratch scratch[byte]
	wordScratch scratch[uint32]
)

// convInt8Tensors is convInt8 on a Conv's operands x [batch, ch, ...], w
// [m, ch/group, ...] and the optional bias; it reports false when they are
// not int8, int8 and int32, leaving the errors to the exact path.
func convInt8Tensors(c *runCtx, x, w, bias *onnx.Tensor, g *geom, group, offset int, relu bool, cache *igemmWeights) ([]int32, bool) {
	xq, okX := x.Data.([]int8)
	wq, okW := w.Data.([]int8)
	var bd []int32
	okB := true
	if bias != nil {
		bd, okB = bias.Data.([]int32)
	}
	if !okX || !okW || !okB {
		return nil, false
	}
	return convInt8(c, xq, wq, bd, g, x.Shape[0], x.Shape[1], w.Shape[0], group, offset, relu, cache)
}

// convInt8 computes the int8 Conv (input xq [batch, ch, ...], weight wq
// [m, ch/group, ...], optional int32 bias, activation offset) with the
// active int8 kernel, Relu applied when relu is set, and reports false,
// computing nothing, when there is no kernel or a sum is too deep for it.
// cache keeps the packed weight when it is an initializer (may be nil).
func convInt8(c *runCtx, xq, wq []int8, bias []int32, g *geom, batch, ch, m, group, offset int, relu bool, cache *igemmWeights) ([]int32, bool) {
	kern := activeIKernel
	cg, mg := ch/group, m/group
	kdim := cg * g.kN
	if kern == nil || kdim == 0 || kdim > igemmMaxK || g.outN == 0 {
		return nil, false
	}
	kg := kern.kgroups(kdim)
	rowStrips := (mg + kern.mr - 1) / kern.mr
	pw := cache.get(kern, wq, kdim, m, false, func() *igemmPacked {
		p := &igemmPacked{}
		for gi := 0; gi < group; gi++ {
			w := wq[gi*mg*kdim : (gi+1)*mg*kdim]
			words := make([]uint32, rowStrips*kg*kern.mr)
			kern.packRows(words, w, mg, kdim, kdim, false)
			p.words = append(p.words, words)
			p.sums = append(p.sums, rowSums(w, mg, kdim))
		}
		return p
	})
	xb := byteScratch.get(len(xq))
	defer byteScratch.put(xb)
	xu := *xb
	parallelFor(c.threads, len(xq), 1<<16, func(lo, hi int) { flipSigns(xu[lo:hi], xq[lo:hi]) })
	z := byte(128 + offset)

	outN, nr := g.outN, kern.nr
	strips := (outN + nr - 1) / nr
	per := max(1, min(igemmMaxChunk/nr, igemmChunkBytes/(kdim*nr))) // strips a chunk
	chunks := (strips + per - 1) / per
	images := batch * group
	if t := c.threads; t > 1 && images*chunks < 2*t {
		chunks = min(strips, (2*t+images-1)/images)
	}
	per = (strips + chunks - 1) / chunks
	chunks = (strips + per - 1) / per
	y := make([]int32, batch*m*outN)
	work := mg * kdim * per * nr
	parallelFor(c.threads, images*chunks, max(1, (1<<18)/work), func(lo, hi int) {
		colBuf := byteScratch.get(kdim * per * nr)
		defer byteScratch.put(colBuf)
		packBuf := wordScratch.get(kg * per * nr)
		defer wordScratch.put(packBuf)
		tile := make([]int32, kern.mr*nr)
		for t := lo; t < hi; t++ {
			img, chunk := t/chunks, t%chunks
			bi, gi := img/group, img%group
			j0 := chunk * per * nr
			j1 := min(outN, j0+per*nr)
			nw := j1 - j0
			xg := xu[(bi*ch+gi*cg)*g.inN : (bi*ch+gi*cg+cg)*g.inN]
			src, ld := xg[j0:], g.inN
			if !g.pointwise {
				src, ld = (*colBuf)[:kdim*nw], nw
				im2colBytes(src, xg, g, cg, j0, j1, z)
			}
			packed := (*packBuf)[:kg*((nw+nr-1)/nr)*nr]
			packColBytes(packed, src, ld, kdim, nw, nr, kern.g)
			words, sums := pw.words[gi], pw.sums[gi]
			for rs := 0; rs < rowStrips; rs++ {
				a := words[rs*kg*kern.mr : (rs+1)*kg*kern.mr]
				for cs := 0; cs*nr < nw; cs++ {
					kern.fn(kg, a, packed[cs*kg*nr:(cs+1)*kg*nr], tile)
					rows := min(kern.mr, mg-rs*kern.mr)
					cols := min(nr, nw-cs*nr)
					for r := 0; r < rows; r++ {
						i := rs*kern.mr + r
						oc := gi*mg + i
						corr := -int64(z) * int64(sums[i])
						if bias != nil {
							corr += int64(bias[oc])
						}
						igemmStoreRow(y[(bi*m+oc)*outN+j0+cs*nr:][:cols], tile[r*nr:], corr, relu)
					}
				}
			}
		}
	})
	return y, true
}

// flipSigns writes q + 128 as unsigned bytes (the sign bit flipped) for
// each q, eight at a time.
func flipSigns(dst []byte, src []int8) {
	n := len(src) &^ 7
	for i := 0; i < n; i += 8 {
		s := src[i : i+8 : i+8]
		d := dst[i : i+8 : i+8]
		d[0], d[1], d[2], d[3] = byte(s[0])^0x80, byte(s[1])^0x80, byte(s[2])^0x80, byte(s[3])^0x80
		d[4], d[5], d[6], d[7] = byte(s[4])^0x80, byte(s[5])^0x80, byte(s[6])^0x80, byte(s[7])^0x80
	}
	for i := n; i < len(src); i++ {
		dst[i] = byte(src[i]) ^ 0x80
	}
}

// im2colBytes writes columns [j0, j1) of the im2col matrix of x (channels
// planes of unsigned bytes, each g.inN long) into col, row-major, j1−j0
// wide, with pad where a tap falls outside the input.
func im2colBytes(col, x []byte, g *geom, channels, j0, j1 int, pad byte) {
	w := j1 - j0
	s2 := g.s[2]
	for p := j0; p < j1; {
		orow := p / g.out[2]
		ow0 := p - orow*g.out[2]
		ow1 := min(g.out[2], ow0+j1-p)
		n := ow1 - ow0
		id0, ih0 := orow/g.out[1]*g.s[0], orow%g.out[1]*g.s[1]
		off := p - j0
		for t := range g.taps {
			tp := &g.taps[t]
			id, ih := id0+tp.base[0], ih0+tp.base[1]
			lo, hi := max(tp.lo[2], ow0), min(tp.hi[2], ow1)
			inside := id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && lo < hi
			from := 0
			if inside {
				from = (id*g.in[1]+ih)*g.in[2] + lo*s2 + tp.base[2]
			}
			for ci := 0; ci < channels; ci++ {
				seg := col[(ci*g.kN+t)*w+off:][:n]
				if !inside {
					fillBytes(seg, pad)
					continue
				}
				fillBytes(seg[:lo-ow0], pad)
				out := seg[lo-ow0 : hi-ow0]
				src := x[ci*g.inN+from:]
				if s2 == 1 {
					copy(out, src[:len(out)])
				} else {
					for j := range out {
						out[j] = src[j*s2]
					}
				}
				fillBytes(seg[hi-ow0:], pad)
			}
		}
		p += n
	}
}

// fillBytes sets every byte of s to v.
func fillBytes(s []byte, v byte) {
	for i := range s {
		s[i] = v
	}
}

// packColBytes packs the k×nw matrix of unsigned bytes whose row r is
// src[r·ld:][:nw] as the columns operand (strips of nr columns, words of
// g values) into dst.
func packColBytes(dst []uint32, src []byte, ld, k, nw, nr, g int) {
	kg := (k + g - 1) / g
	row := func(r int) []byte {
		if r < k {
			return src[r*ld : r*ld+nw]
		}
		return zeroBytes[:nw]
	}
	for p := 0; p < kg; p++ {
		r0, r1 := row(p*g), row(p*g+1)
		var r2, r3 []byte
		if g == 4 {
			r2, r3 = row(p*g+2), row(p*g+3)
		}
		for j0 := 0; j0 < nw; j0 += nr {
			n := min(nr, nw-j0)
			strip := dst[(j0/nr*kg+p)*nr:][:nr]
			d := strip[:n]
			a, b := r0[j0:j0+n], r1[j0:j0+n]
			if g == 4 {
				c, e := r2[j0:j0+n], r3[j0:j0+n]
				for j := range d {
					d[j] = uint32(a[j]) | uint32(b[j])<<8 | uint32(c[j])<<16 | uint32(e[j])<<24
				}
			} else {
				for j := range d {
					d[j] = uint32(a[j]) | uint32(b[j])<<16
				}
			}
			clear(strip[n:])
		}
	}
}
