package bench

import (
	"os"
	"path/filepath"
	"testing"

	"amq/onnx"
	"amq/sim"
)

// BenchmarkLoad times what `amq run` does before its first run: reading
// the model file (onnx.LoadFileHalves, as run on sim) and preparing a sim
// session (shape checks, weight packing), separately and together, on
// PaddleOCR's 10.8 MB PP-OCRv4 recognizer (scripts/fetch-ocr-models.sh)
// and on a 10 MB convolution stack written by ConvStack (issue 10: a 10 MB
// model loads in under 50 ms). It reports the model file's size.
func BenchmarkLoad(b *testing.B) {
	cases := []struct {
		name  string
		model func(b *testing.B) string
	}{
		{"ppocr-rec", func(b *testing.B) string {
			path := filepath.Join(ocrModels(), "ch_PP-OCRv4_rec_infer.onnx")
			if _, err := os.Stat(path); err != nil {
				b.Skipf("%v: run scripts/fetch-ocr-models.sh", err)
			}
			return path
		}},
		{"convstack-10MB", func(b *testing.B) string {
			path := filepath.Join(b.TempDir(), "convstack.onnx")
			if err := ConvStack(1, 17, seed).Save(path, nil); err != nil {
				b.Fatal(err)
			}
			return path
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			path := c.model(b)
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			load := func() *onnx.Model {
				m, err := onnx.LoadFileHalves(path)
				if err != nil {
					b.Fatal(err)
				}
				return m
			}
			prepare := func(m *onnx.Model) {
				s, err := sim.NewSession(m, nil)
				if err != nil {
					b.Fatal(err)
				}
				s.Release()
			}
			b.Run("load", func(b *testing.B) {
				for b.Loop() {
					load()
				}
				b.ReportMetric(float64(st.Size())/1e6, "file-MB")
			})
			b.Run("prepare", func(b *testing.B) {
				m := load()
				for b.Loop() {
					prepare(m)
				}
			})
			b.Run("load+prepare", func(b *testing.B) {
				for b.Loop() {
					prepare(load())
				}
				b.ReportMetric(float64(st.Size())/1e6, "file-MB")
			})
		})
	}
}
