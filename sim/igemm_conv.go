package sim

import "amq/onnx"

// The int8 Conv of deploy models on the int8 kernels (igemm.go): the
// weights are the rows operand (signed), the im2col matrix of the
// activation the columns operand (unsigned bytes u = q + 128, padding z).
//
// The activation is first rewritten as channel words: the g channels
// c·g … c·g+g−1 of each pixel in one word, a plane of words per c. A word
// of the im2col matrix is then a word of those planes, so im2col copies
// words, and k runs
// over (channel word, tap) with the weights packed in the same order.
// Channels beyond the group's count are zero in the weights, so their
// bytes in the activation do not matter.

// igemmChunkBytes is about how much packed im2col matrix a tile holds: it
// stays in L2 while every strip of weights passes over it.
const igemmChunkBytes = 192 << 10

// igemmMaxChunk bounds a tile's width in columns.
const igemmMaxChunk = 2048

// wordScratch keeps the channel words, the im2col matrices and the packed
// activations of Gemm and MatMul.
var wordScratch scratch[uint32]

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
	if kern == nil || cg*g.kN == 0 || cg*g.kN > igemmMaxK || g.outN == 0 {
		return nil, false
	}
	cw := (cg + kern.g - 1) / kern.g // channel words per pixel
	cv := &int8Conv{kern: kern, g: g, m: m, mg: mg, cw: cw, kg: cw * g.kN, group: group, relu: relu,
		y: make([]int32, batch*m*g.outN)}
	rowStrips := (mg + kern.mr - 1) / kern.mr
	cv.w = cache.get(kern, wq, cg*g.kN, m, false, func() *igemmPacked {
		p := &igemmPacked{}
		for gi := 0; gi < group; gi++ {
			w := wq[gi*mg*cg*g.kN : (gi+1)*mg*cg*g.kN]
			p.words = append(p.words, kern.packConvWeights(w, mg, cg, g.kN))
			p.sums = append(p.sums, rowSums(w, mg, cg*g.kN))
		}
		return p
	})
	z := uint32(128 + offset)
	cv.pad = z | z<<16 // int16 pairs
	if kern.g == 4 {
		cv.pad = z * 0x01010101
	}
	cv.corr = make([]rowCorrections, group)
	for gi := range cv.corr {
		var gb []int32
		if bias != nil {
			gb = bias[gi*mg : (gi+1)*mg]
		}
		cv.corr[gi] = newRowCorrections(cv.w.sums[gi], gb, int64(z), cg*g.kN, rowStrips*kern.mr)
	}

	planes := batch * group * cw
	xb := wordScratch.get(planes * g.inN)
	defer wordScratch.put(xb)
	cv.x = *xb
	parallelFor(c.threads, planes, max(1, (1<<14)/g.inN), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			img, ci := pl/cw, pl%cw
			c0 := img/group*ch + img%group*cg + ci*kern.g
			n := min(kern.g, cg-ci*kern.g)
			channelWords(cv.x[pl*g.inN:(pl+1)*g.inN], xq[c0*g.inN:(c0+n)*g.inN], g.inN, n, kern.g)
		}
	})

	images := batch * group
	per, chunks := convChunks(g.outN, kern.nr, cv.kg, images, c.threads)
	width := per * kern.nr
	work := mg * cv.kg * width
	parallelFor(c.threads, images*chunks, max(1, (1<<18)/work), func(lo, hi int) {
		buf := wordScratch.get(cv.kg * width)
		defer wordScratch.put(buf)
		tile := make([]int32, kern.mr*kern.nr)
		for t := lo; t < hi; t++ {
			img, j0 := t/chunks, t%chunks*width
			cv.columns(img, j0, min(g.outN, j0+width), *buf, tile)
		}
	})
	return cv.y, true
}

// convChunks cuts an image's outN output columns into chunks of per
// strips of nr columns, about igemmChunkBytes of packed im2col matrix (kg
// words a column) each, and into at least two chunks per thread in all
// when the images alone are too few.
func convChunks(outN, nr, kg, images, threads int) (per, chunks int) {
	strips := (outN + nr - 1) / nr
	per = max(1, min(igemmMaxChunk/nr, igemmChunkBytes/(kg*4*nr)))
	chunks = (strips + per - 1) / per
	if threads > 1 && images*chunks < 2*threads {
		chunks = min(strips, (2*threads+images-1)/images)
	}
	per = (strips + chunks - 1) / chunks
	return per, (strips + per - 1) / per
}

// int8Conv is one run of an int8 Conv on the int8 kernels: the packed
// weights, the channel words of the input, and the output.
type int8Conv struct {
	kern                 *igemmKernel
	g                    *geom
	m, mg, cw, kg, group int
	relu                 bool
	w                    *igemmPacked
	corr                 []rowCorrections // per group
	x                    []uint32         // channel words, cw planes per (image, group)
	pad                  uint32           // the channel word of a padded tap
	y                    []int32
}

// columns computes output columns [j0, j1) of every output channel of
// image (batch item, group) img: it packs their im2col matrix into col and
// passes every strip of weights over it; tile is an mr×nr scratch tile.
func (cv *int8Conv) columns(img, j0, j1 int, col []uint32, tile []int32) {
	kern, g, kg := cv.kern, cv.g, cv.kg
	mr, nr, outN := kern.mr, kern.nr, g.outN
	bi, gi := img/cv.group, img%cv.group
	nw := j1 - j0
	im2colWords(col, cv.x[img*cv.cw*g.inN:(img+1)*cv.cw*g.inN], g, cv.cw, j0, j1, nr, cv.pad)
	words, cr := cv.w.words[gi], cv.corr[gi]
	for rs := 0; rs*mr < cv.mg; rs++ {
		a := words[rs*kg*mr : (rs+1)*kg*mr]
		rows := min(mr, cv.mg-rs*mr)
		out := cv.y[(bi*cv.m+gi*cv.mg+rs*mr)*outN+j0:]
		for cs := 0; cs*nr < nw; cs++ {
			b := col[cs*kg*nr : (cs+1)*kg*nr]
			cols := min(nr, nw-cs*nr)
			switch {
			case cr.fits && rows == mr && cols == nr:
				kern.fn(kg, a, b, nr, out[cs*nr:], outN, cr.c32[rs*mr:], cv.relu)
			case cr.fits:
				kern.fn(kg, a, b, nr, tile, nr, cr.c32[rs*mr:], cv.relu)
				for r := range rows {
					copy(out[r*outN+cs*nr:][:cols], tile[r*nr:])
				}
			default:
				kern.fn(kg, a, b, nr, tile, nr, nil, false)
				for r := range rows {
					igemmStoreRow(out[r*outN+cs*nr:][:cols], tile[r*nr:], cr.c64[rs*mr+r], cv.relu)
				}
			}
		}
	}
}

// packConvWeights packs a group's weight (mg rows of cg channels × kN
// taps) as the rows operand, k running over (channel word, tap).
func (kn *igemmKernel) packConvWeights(w []int8, mg, cg, kN int) []uint32 {
	cw := (cg + kn.g - 1) / kn.g
	kg := cw * kN
	dst := make([]uint32, (mg+kn.mr-1)/kn.mr*kg*kn.mr)
	var v [4]int8
	for i := 0; i < mg; i++ {
		base := i / kn.mr * kg * kn.mr
		for ci := 0; ci < cw; ci++ {
			n := min(kn.g, cg-ci*kn.g)
			for t := 0; t < kN; t++ {
				for b := range n {
					v[b] = w[(i*cg+ci*kn.g+b)*kN+t]
				}
				dst[base+(ci*kN+t)*kn.mr+i%kn.mr] = kn.word(v[:n], false)
			}
		}
	}
	return dst
}

// channelWords writes the channel words of n ≤ g planes of int8 (src,
// each inN long) into dst: for each pixel, the g values flipped to
// unsigned (u = q + 128), bytes for g = 4, int16 for g = 2, and zero for
// the planes beyond n.
func channelWords(dst []uint32, src []int8, inN, n, g int) {
	dst = dst[:inN]
	if n == g && g == 4 {
		a, b, c, d := src[:inN], src[inN:2*inN], src[2*inN:3*inN], src[3*inN:4*inN]
		for j := range dst {
			dst[j] = (uint32(uint8(a[j])) | uint32(uint8(b[j]))<<8 | uint32(uint8(c[j]))<<16 | uint32(uint8(d[j]))<<24) ^ 0x80808080
		}
		return
	}
	if n == g && g == 2 {
		a, b := src[:inN], src[inN:2*inN]
		for j := range dst {
			dst[j] = (uint32(uint8(a[j])) | uint32(uint8(b[j]))<<16) ^ 0x00800080
		}
		return
	}
	clear(dst)
	shift := 32 / g
	for p := range n {
		for j, q := range src[p*inN : (p+1)*inN] {
			dst[j] |= uint32(uint8(q)^0x80) << (shift * p)
		}
	}
}

// im2colWords writes columns [j0, j1) of the im2col matrix of x (planes
// of channel words, each g.inN long) into col packed as the columns
// operand: strips of nr columns, kg = planes·kN words deep, row r =
// plane·kN + tap; pad where a tap falls outside the input. Columns past
// j1 in the last strip are left as they are (their results are dropped).
func im2colWords(col, x []uint32, g *geom, planes, j0, j1, nr int, pad uint32) {
	s2 := g.s[2]
	kg := planes * g.kN
	for p := j0; p < j1; {
		orow := p / g.out[2]
		ow0 := p - orow*g.out[2]
		off := p - j0
		ow1 := min(g.out[2], ow0+j1-p, ow0+nr-off%nr) // within one strip
		n := ow1 - ow0
		base := off/nr*kg*nr + off%nr
		id0, ih0 := orow/g.out[1]*g.s[0], orow%g.out[1]*g.s[1]
		for t := range g.taps {
			tp := &g.taps[t]
			id, ih := id0+tp.base[0], ih0+tp.base[1]
			lo, hi := max(tp.lo[2], ow0), min(tp.hi[2], ow1)
			inside := id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && lo < hi
			from := 0
			if inside {
				from = (id*g.in[1]+ih)*g.in[2] + lo*s2 + tp.base[2]
			}
			for ci := 0; ci < planes; ci++ {
				seg := col[base+(ci*g.kN+t)*nr:][:n]
				if !inside {
					fillWords(seg, pad)
					continue
				}
				fillWords(seg[:lo-ow0], pad)
				out := seg[lo-ow0 : hi-ow0]
				src := x[ci*g.inN+from:]
				if s2 == 1 {
					copy(out, src[:len(out)])
				} else {
					for j := range out {
						out[j] = src[j*s2]
					}
				}
				fillWords(seg[hi-ow0:], pad)
			}
		}
		p += n
	}
}

// fillWords sets every word of s to v.
func fillWords(s []uint32, v uint32) {
	for i := range s {
		s[i] = v
	}
}
