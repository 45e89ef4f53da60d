package dataset

import (
	"image"
	"image/color"

	"golang.org/x/image/draw"
)

// pipeline is the preprocessing of images for one model input: decoded
// pixels scaled to [0, 1], resized, reduced to the input's channels,
// normalized and laid out.
type pipeline struct {
	c, h, w   int       // channels (1: luminance, 3: colour) and size of a sample
	mean, std []float64 // per channel, in the model's channel order
	bgr, nhwc bool
}

// Luminance weights of ITU-R BT.601, as PIL's convert("L") and OpenCV's
// COLOR_RGB2GRAY use, here on unrounded values in [0, 1].
const lumaR, lumaG, lumaB = 0.299, 0.587, 0.114

// fill writes img, preprocessed, into dst (c·h·w values in the input's
// layout). An image of another size than h×w is resized with
// golang.org/x/image/draw's BiLinear: a tent filter over pixel centres,
// widened by the scale factor when shrinking so that every source pixel
// counts, computed in float64 and rounded to 16 bits per channel.
func (p *pipeline) fill(dst []float32, img image.Image) {
	src := opaque(img)
	if b := src.Bounds(); b.Dx() != p.w || b.Dy() != p.h {
		scaled := image.NewRGBA64(image.Rect(0, 0, p.w, p.h))
		draw.BiLinear.Scale(scaled, scaled.Bounds(), src, b, draw.Src, nil)
		src = scaled
	}
	hw := p.h * p.w
	var v [3]float64
	for y := range p.h {
		for x := range p.w {
			px := src.Pix[src.PixOffset(x, y):]
			r := float64(uint16(px[0])<<8|uint16(px[1])) / 0xffff
			g := float64(uint16(px[2])<<8|uint16(px[3])) / 0xffff
			b := float64(uint16(px[4])<<8|uint16(px[5])) / 0xffff
			switch {
			case p.c == 1 && r == g && g == b: // a gray pixel is its own luminance
				v[0] = r
			case p.c == 1:
				// The conversions keep the compiler from fusing a
				// multiply-add, so the sum is the same on every CPU.
				v[0] = float64(lumaR*r) + float64(lumaG*g) + float64(lumaB*b)
			case p.bgr:
				v = [3]float64{b, g, r}
			default:
				v = [3]float64{r, g, b}
			}
			at := y*p.w + x
			for ch := range p.c {
				i := ch*hw + at
				if p.nhwc {
					i = at*p.c + ch
				}
				dst[i] = float32((v[ch] - p.mean[ch]) / p.std[ch])
			}
		}
	}
}

// opaque copies img into an RGBA64 image at the origin with its colour
// values as stored and full alpha: alpha is dropped, as PIL's
// convert("RGB") does, rather than composited.
func opaque(img image.Image) *image.RGBA64 {
	b := img.Bounds()
	out := image.NewRGBA64(image.Rect(0, 0, b.Dx(), b.Dy()))
	at := colours(img)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := at(x, y)
			out.SetRGBA64(x-b.Min.X, y-b.Min.Y, color.RGBA64{r, g, bl, 0xffff})
		}
	}
	return out
}

// colours reads img's unpremultiplied 16-bit colour at a pixel.
func colours(img image.Image) func(x, y int) (r, g, b uint16) {
	switch m := img.(type) {
	case *image.NRGBA: // PNG with alpha: colours stored unpremultiplied
		return func(x, y int) (r, g, b uint16) {
			c := m.NRGBAAt(x, y)
			return uint16(c.R) * 0x101, uint16(c.G) * 0x101, uint16(c.B) * 0x101
		}
	case *image.NRGBA64:
		return func(x, y int) (r, g, b uint16) {
			c := m.NRGBA64At(x, y)
			return c.R, c.G, c.B
		}
	case image.RGBA64Image: // no allocation per pixel
		return func(x, y int) (r, g, b uint16) {
			c := m.RGBA64At(x, y)
			return unpremultiply(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
		}
	}
	return func(x, y int) (r, g, b uint16) { return unpremultiply(img.At(x, y).RGBA()) }
}

// unpremultiply undoes alpha premultiplication of 16-bit values.
func unpremultiply(r, g, b, a uint32) (uint16, uint16, uint16) {
	switch a {
	case 0xffff:
		return uint16(r), uint16(g), uint16(b)
	case 0:
		return 0, 0, 0
	}
	return uint16(r * 0xffff / a), uint16(g * 0xffff / a), uint16(b * 0xffff / a)
}
