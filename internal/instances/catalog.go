// Package instances maps SageMaker ml.* instance types onto container
// resources. The catalog lists each type's vCPUs, memory and GPUs; an
// operator scales it down to fit a small machine.
package instances

import (
	"fmt"
	"sort"
	"strings"
)

// Type is one instance type's resources as the service defines them.
type Type struct {
	Name      string
	VCPUs     int
	MemoryGiB float64
	GPUs      int
}

// family lists the sizes of one instance family: name suffix → (vCPU, GiB).
type family struct {
	prefix string
	gpus   map[string]int // size → GPU count (GPU families only)
	sizes  map[string][2]float64
}

// Standard x86 sizes: vCPUs double each step, memory per vCPU is per family.
func standard(perVCPU float64, sizes ...string) map[string][2]float64 {
	vcpus := map[string]float64{"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36,
		"12xlarge": 48, "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192}
	out := map[string][2]float64{}
	for _, s := range sizes {
		out[s] = [2]float64{vcpus[s], vcpus[s] * perVCPU}
	}
	return out
}

var families = []family{
	{prefix: "ml.t3", sizes: map[string][2]float64{"medium": {2, 4}, "large": {2, 8}, "xlarge": {4, 16}, "2xlarge": {8, 32}}},
	{prefix: "ml.t2", sizes: map[string][2]float64{"medium": {2, 4}, "large": {2, 8}, "xlarge": {4, 16}, "2xlarge": {8, 32}}},
	{prefix: "ml.m4", sizes: map[string][2]float64{"xlarge": {4, 16}, "2xlarge": {8, 32}, "4xlarge": {16, 64}, "10xlarge": {40, 160}, "16xlarge": {64, 256}}},
	{prefix: "ml.m5", sizes: standard(4, "large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")},
	{prefix: "ml.m5d", sizes: standard(4, "large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")},
	{prefix: "ml.m6i", sizes: standard(4, "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge")},
	{prefix: "ml.m7i", sizes: standard(4, "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")},
	{prefix: "ml.c4", sizes: map[string][2]float64{"xlarge": {4, 7.5}, "2xlarge": {8, 15}, "4xlarge": {16, 30}, "8xlarge": {36, 60}}},
	{prefix: "ml.c5", sizes: standard(2, "large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")},
	{prefix: "ml.c5n", sizes: map[string][2]float64{"xlarge": {4, 10.5}, "2xlarge": {8, 21}, "4xlarge": {16, 42}, "9xlarge": {36, 96}, "18xlarge": {72, 192}}},
	{prefix: "ml.c6i", sizes: standard(2, "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge")},
	{prefix: "ml.r5", sizes: standard(8, "large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")},
	{prefix: "ml.r6i", sizes: standard(8, "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge")},
	{prefix: "ml.p2", gpus: map[string]int{"xlarge": 1, "8xlarge": 8, "16xlarge": 16},
		sizes: map[string][2]float64{"xlarge": {4, 61}, "8xlarge": {32, 488}, "16xlarge": {64, 732}}},
	{prefix: "ml.p3", gpus: map[string]int{"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
		sizes: map[string][2]float64{"2xlarge": {8, 61}, "8xlarge": {32, 244}, "16xlarge": {64, 488}}},
	{prefix: "ml.g4dn", gpus: map[string]int{"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4, "16xlarge": 1},
		sizes: map[string][2]float64{"xlarge": {4, 16}, "2xlarge": {8, 32}, "4xlarge": {16, 64}, "8xlarge": {32, 128}, "12xlarge": {48, 192}, "16xlarge": {64, 256}}},
	{prefix: "ml.g5", gpus: map[string]int{"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4, "16xlarge": 1, "24xlarge": 4, "48xlarge": 8},
		sizes: map[string][2]float64{"xlarge": {4, 16}, "2xlarge": {8, 32}, "4xlarge": {16, 64}, "8xlarge": {32, 128}, "12xlarge": {48, 192}, "16xlarge": {64, 256}, "24xlarge": {96, 384}, "48xlarge": {192, 768}}},
}

// Catalog is the set of instance types this installation offers.
type Catalog struct {
	types map[string]Type
	// Scale multiplies CPU and memory when mapping a type onto a container
	// (e.g. 0.25 on a laptop); 1 means the real sizes.
	Scale float64
	// GPUs reports whether GPU types may be used (needs the NVIDIA runtime).
	GPUs bool
}

// Default returns the full catalog with the given scale; GPU types are
// listed but unavailable unless gpus is set.
func Default(scale float64, gpus bool) (*Catalog, error) {
	if scale <= 0 || scale > 1 {
		return nil, fmt.Errorf("instance scale %v must be in (0, 1]", scale)
	}
	c := &Catalog{types: map[string]Type{}, Scale: scale, GPUs: gpus}
	for _, f := range families {
		for size, res := range f.sizes {
			name := f.prefix + "." + size
			c.types[name] = Type{Name: name, VCPUs: int(res[0]), MemoryGiB: res[1], GPUs: f.gpus[size]}
		}
	}
	return c, nil
}

// Lookup returns an instance type usable on this installation, or an error
// that says why not (unknown, or a GPU type without GPU support).
func (c *Catalog) Lookup(name string) (Type, error) {
	t, ok := c.types[name]
	if !ok {
		return Type{}, fmt.Errorf("instance type %s is not available on this installation", name)
	}
	if t.GPUs > 0 && !c.GPUs {
		return Type{}, fmt.Errorf("instance type %s needs GPUs, which are not available on this installation", name)
	}
	return t, nil
}

// Names lists the usable types in order.
func (c *Catalog) Names() []string {
	var out []string
	for name, t := range c.types {
		if t.GPUs == 0 || c.GPUs {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Limits are the container limits for one host of a type.
type Limits struct {
	NanoCPUs    int64
	MemoryBytes int64
}

// Limits maps a type onto container limits, scaled, never below a floor
// that lets a small container start (0.1 CPU, 64 MiB).
func (c *Catalog) Limits(t Type) Limits {
	cpus := float64(t.VCPUs) * c.Scale
	mem := t.MemoryGiB * c.Scale * (1 << 30)
	return Limits{NanoCPUs: max(int64(cpus*1e9), 1e8), MemoryBytes: max(int64(mem), 64<<20)}
}

// String describes the catalog for logs.
func (c *Catalog) String() string {
	return fmt.Sprintf("%d instance types, scale %g, GPUs %v (%s ...)", len(c.Names()), c.Scale, c.GPUs, strings.Join(c.Names()[:3], ", "))
}
