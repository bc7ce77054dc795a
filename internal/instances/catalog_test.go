package instances

import "testing"

func TestCatalog(t *testing.T) {
	c, err := Default(0.25, false)
	if err != nil {
		t.Fatal(err)
	}
	m5, err := c.Lookup("ml.m5.large")
	if err != nil || m5.VCPUs != 2 || m5.MemoryGiB != 8 {
		t.Fatalf("ml.m5.large: %+v %v", m5, err)
	}
	l := c.Limits(m5)
	if l.NanoCPUs != 5e8 || l.MemoryBytes != 2<<30 {
		t.Fatalf("limits %+v", l)
	}
	if _, err := c.Lookup("ml.p3.2xlarge"); err == nil {
		t.Fatal("GPU type usable without GPUs")
	}
	if _, err := c.Lookup("ml.nope.large"); err == nil {
		t.Fatal("unknown type accepted")
	}
	if _, err := Default(0, false); err == nil {
		t.Fatal("scale 0 accepted")
	}
	g, _ := Default(1, true)
	if p3, err := g.Lookup("ml.p3.8xlarge"); err != nil || p3.GPUs != 4 {
		t.Fatalf("p3.8xlarge: %+v %v", p3, err)
	}
}
