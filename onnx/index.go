package onnx

import "slices"

// orderGap is log2 of the distance between the order ranks Reindex gives
// neighbouring nodes: room for 32 insertions at one place before the ranks
// are renumbered.
const orderGap = 32

// insert adds nodes[pos], just inserted, to the index, and reports false
// when the index cannot take it in place (a name or output already in use,
// or Nodes changed since the index was built): the caller rebuilds it.
func (ix *graphIndex) insert(nodes []*Node, pos int) bool {
	n := nodes[pos]
	if !ix.unique || len(ix.order) != len(nodes)-1 {
		return false
	}
	if _, dup := ix.byName[n.Name]; dup {
		return false
	}
	for _, o := range n.Outputs {
		if _, dup := ix.producer[o]; dup && o != "" {
			return false
		}
	}
	rank, ok := ix.rankAt(nodes, pos)
	if !ok {
		return false
	}
	ix.order[n] = rank
	ix.byName[n.Name] = n
	for _, o := range n.Outputs {
		if o != "" {
			ix.producer[o] = n
		}
	}
	for i, in := range n.Inputs {
		if in != "" && !slices.Contains(n.Inputs[:i], in) {
			ix.addConsumer(in, n)
		}
	}
	return true
}

// rankAt returns an order rank between those of nodes[pos-1] and
// nodes[pos+1], renumbering every node when they leave no room; false when
// the ranks do not follow Nodes (changed without Reindex).
func (ix *graphIndex) rankAt(nodes []*Node, pos int) (uint64, bool) {
	for range 2 {
		lo, hi := uint64(0), uint64(len(nodes)+1)<<orderGap
		ok := true
		if pos > 0 {
			lo, ok = ix.order[nodes[pos-1]]
		}
		if pos+1 < len(nodes) && ok {
			hi, ok = ix.order[nodes[pos+1]]
		}
		if !ok || hi <= lo {
			return 0, false
		}
		if hi-lo >= 2 {
			return lo + (hi-lo)/2, true
		}
		for i, m := range nodes {
			if i != pos {
				ix.order[m] = uint64(i+1) << orderGap
			}
		}
	}
	return 0, false
}

// addConsumer lists n among the readers of tensor name, in graph order.
func (ix *graphIndex) addConsumer(name string, n *Node) {
	c := ix.consumers[name]
	r := ix.order[n]
	i := len(c)
	for i > 0 && ix.order[c[i-1]] > r {
		i--
	}
	ix.consumers[name] = slices.Insert(c, i, n)
}

// removeConsumer drops n from the readers of tensor name.
func (ix *graphIndex) removeConsumer(name string, n *Node) {
	c := slices.DeleteFunc(ix.consumers[name], func(m *Node) bool { return m == n })
	if len(c) == 0 {
		delete(ix.consumers, name)
	} else {
		ix.consumers[name] = c
	}
}

// rewireInput updates the index after one input of n changed from old to
// name; false asks for a rebuild.
func (ix *graphIndex) rewireInput(n *Node, old, name string) bool {
	if _, ok := ix.order[n]; !ok || !ix.unique {
		return false
	}
	if old == name {
		return true
	}
	if old != "" && !slices.Contains(n.Inputs, old) {
		ix.removeConsumer(old, n)
	}
	if name != "" && count(n.Inputs, name) == 1 {
		ix.addConsumer(name, n)
	}
	return true
}

// rewireOutput updates the index after one output of n changed from old to
// name; false asks for a rebuild.
func (ix *graphIndex) rewireOutput(n *Node, old, name string) bool {
	if _, ok := ix.order[n]; !ok || !ix.unique {
		return false
	}
	if old == name {
		return true
	}
	if p, dup := ix.producer[name]; name != "" && dup && p != n {
		return false
	}
	if old != "" && !slices.Contains(n.Outputs, old) {
		delete(ix.producer, old)
	}
	if name != "" {
		ix.producer[name] = n
	}
	return true
}

// count is how many times s occurs in list.
func count(list []string, s string) int {
	k := 0
	for _, x := range list {
		if x == s {
			k++
		}
	}
	return k
}
