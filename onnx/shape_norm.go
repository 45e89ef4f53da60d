package onnx

// Normalizations: the output has the input's shape; some have statistics
// outputs.

func init() {
	inferAs((*shapeInfer).batchNorm, "BatchNormalization")
	inferAs((*shapeInfer).layerNorm, "LayerNormalization")
	inferAs((*shapeInfer).groupNorm, "GroupNormalization")
}

// batchNorm: the optional outputs (running mean and variance, training
// mode) have one value per channel.
func (s *shapeInfer) batchNorm(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	s.set(n, 0, x, s.dt(n, 0))
	if len(x) >= 2 {
		for i := 1; i < len(n.Outputs); i++ {
			s.set(n, i, []int{x[1]}, s.dt(n, 0))
		}
	}
	return nil
}

// layerNorm: the optional mean and inverse standard deviation outputs
// keep the axes before axis and have 1 on the normalized ones.
func (s *shapeInfer) layerNorm(n *Node) error {
	x, a, err := s.inputAxis(n, -1)
	if err != nil {
		return err
	}
	s.set(n, 0, x, s.dt(n, 0))
	stat := append([]int(nil), x...)
	for i := a; i < len(stat); i++ {
		stat[i] = 1
	}
	st := DataType(n.AttrInt("stash_type", int64(Float)))
	s.set(n, 1, stat, st)
	s.set(n, 2, stat, st)
	return nil
}

func (s *shapeInfer) groupNorm(n *Node) error { return s.sameAs(n, s.dt(n, 0)) }
