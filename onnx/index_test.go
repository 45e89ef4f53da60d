package onnx

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// chainGraph is x → n0 → n1 → … → n(k-1) → y, each node also reading x.
func chainGraph(k int) *Graph {
	g := &Graph{Name: "chain", Inputs: []*ValueInfo{{Name: "x"}}, Outputs: []*ValueInfo{{Name: "y"}}}
	prev := "x"
	for i := range k {
		out := fmt.Sprintf("t%d", i)
		if i == k-1 {
			out = "y"
		}
		g.Nodes = append(g.Nodes, &Node{Name: fmt.Sprintf("n%d", i), OpType: "Add", Inputs: []string{prev, "x"}, Outputs: []string{out}})
		prev = out
	}
	return g
}

// sameIndex fails unless g's index answers as one rebuilt from scratch.
func sameIndex(t *testing.T, g *Graph, step string) {
	t.Helper()
	ref := &Graph{Nodes: g.Nodes, Outputs: g.Outputs}
	ref.Reindex()
	names := map[string]bool{}
	for _, n := range g.Nodes {
		for _, s := range append(slices.Clone(n.Inputs), n.Outputs...) {
			names[s] = true
		}
		if g.Node(n.Name) != n {
			t.Fatalf("%s: Node(%q) is not the node", step, n.Name)
		}
	}
	for s := range names {
		if g.Producer(s) != ref.Producer(s) {
			t.Fatalf("%s: Producer(%q) = %v, rebuilt %v", step, s, g.Producer(s), ref.Producer(s))
		}
		if !slices.Equal(g.Consumers(s), ref.Consumers(s)) {
			t.Fatalf("%s: Consumers(%q) = %v, rebuilt %v", step, s, g.Consumers(s), ref.Consumers(s))
		}
	}
	for s := range g.index.consumers {
		if !names[s] {
			t.Fatalf("%s: the index lists readers of %q, which no node reads", step, s)
		}
	}
}

func TestInsertAndRewireKeepTheIndexAsARebuildWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := chainGraph(20)
	g.Reindex()
	for step := range 150 {
		what := fmt.Sprintf("step %d", step)
		switch rng.IntN(4) {
		case 0: // a node in front of a random one, on a random input
			at := g.Nodes[rng.IntN(len(g.Nodes))]
			i := rng.IntN(len(at.Inputs))
			n := &Node{Name: g.UniqueName("ins"), OpType: "Neg", Inputs: []string{at.Inputs[i]}, Outputs: []string{g.UniqueName("ins.out")}}
			if err := g.InsertBefore(at, i, n); err != nil {
				t.Fatal(err)
			}
		case 1: // many insertions at one place: ranks run out of room
			pos := rng.IntN(len(g.Nodes))
			for k := range 34 {
				src := g.Nodes[pos+k].Outputs[0]
				g.InsertNode(pos+k+1, &Node{Name: g.UniqueName("run"), OpType: "Relu", Inputs: []string{src, src}, Outputs: []string{g.UniqueName("run.out")}})
			}
		case 2: // an input read from an earlier tensor, or dropped, or added
			p := rng.IntN(len(g.Nodes))
			n, src := g.Nodes[p], "x"
			if p > 0 {
				src = g.Nodes[rng.IntN(p)].Outputs[0]
			}
			switch rng.IntN(3) {
			case 0:
				g.SetInput(n, rng.IntN(len(n.Inputs)), src)
			case 1:
				g.SetInput(n, rng.IntN(len(n.Inputs)), "")
			case 2:
				g.SetInput(n, len(n.Inputs)+rng.IntN(2), src)
			}
		case 3: // an output renamed, its readers following
			n := g.Nodes[rng.IntN(len(g.Nodes))]
			old, name := n.Outputs[0], g.UniqueName("renamed")
			for _, c := range slices.Clone(g.Consumers(old)) {
				for i, in := range c.Inputs {
					if in == old {
						g.SetInput(c, i, name)
					}
				}
			}
			g.SetOutput(n, 0, name)
		}
		sameIndex(t, g, what)
	}
}

func TestInsertNodeRebuildsAfterNodesChangedDirectly(t *testing.T) {
	g := chainGraph(3)
	g.Reindex()
	extra := &Node{Name: "extra", OpType: "Neg", Inputs: []string{"y"}, Outputs: []string{"z"}}
	g.Nodes = append(g.Nodes, extra) // no Reindex, against the rule
	g.InsertNode(0, &Node{Name: "first", OpType: "Neg", Inputs: []string{"x"}, Outputs: []string{"w"}})
	if g.Producer("z") != extra {
		t.Fatal("InsertNode kept an index that misses a node appended to Nodes")
	}
	sameIndex(t, g, "after insert")
}

func TestInsertNodeDoesNotRebuildTheIndex(t *testing.T) {
	g := chainGraph(2000)
	g.Reindex()
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		at := g.Nodes[2*i+1]
		g.InsertNode(2*i+1, &Node{Name: fmt.Sprint("q", i), OpType: "Neg", Inputs: []string{at.Inputs[0]}, Outputs: []string{fmt.Sprint("q", i, ".out")}})
		g.SetInput(at, 0, fmt.Sprint("q", i, ".out"))
		i++
	})
	// A rebuild of 2000 nodes allocates thousands of times.
	if allocs > 30 {
		t.Fatalf("InsertNode and SetInput allocate %.0f times on a 2000-node graph; the index is being rebuilt", allocs)
	}
	sameIndex(t, g, "after inserts")
}

// BenchmarkInsertNode inserts a node before every node of a chain, as
// Save does before every layer: the time per insert should not grow with
// the graph.
func BenchmarkInsertNode(b *testing.B) {
	for _, k := range []int{1000, 2000, 4000, 8000} {
		b.Run(fmt.Sprintf("nodes=%d", k), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				g := chainGraph(k)
				g.Reindex()
				nodes := slices.Clone(g.Nodes)
				b.StartTimer()
				for _, at := range nodes {
					n := &Node{Name: g.UniqueName(at.Name + ".q"), OpType: "Neg", Inputs: []string{at.Inputs[0]}, Outputs: []string{g.UniqueName(at.Name + ".q.out")}}
					if err := g.InsertBefore(at, 0, n); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/insert")
		})
	}
}
