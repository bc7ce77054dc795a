// Command gen writes the trimmed service models that package shapes embeds.
//
// It reads botocore's models (data/<service>/<version>/service-2.json[.gz]),
// keeps the operations listed in [services] and the shapes reachable from
// their input shapes, with only what request validation needs (type, members
// in model order, required, min, max, pattern, enum, member/key/value refs,
// locationName/jsonName), and writes <out>/<service>.json with one shape per
// line. Every pattern is compiled through javare; the command fails when one
// cannot be handled, and lists those that needed a hand-written translation.
//
// Usage (from internal/awsapi/shapes, via go generate):
//
//	go run ./gen [-botocore DIR] [-out models]
//
// DIR defaults to the installed botocore package
// (python3 -c 'import botocore,os;print(os.path.dirname(botocore.__file__))').
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/wharfml/wharf/internal/awsapi/shapes/javare"
)

// services lists, per botocore service name, the operations Wharf serves.
// Add an operation here and run go generate to validate it.
var services = map[string][]string{
	"sagemaker": {
		"CreateModelPackageGroup", "DescribeModelPackageGroup", "ListModelPackageGroups", "DeleteModelPackageGroup",
		"AddTags", "ListTags", "DeleteTags",
		"CreateAlgorithm", "DescribeAlgorithm", "ListAlgorithms", "DeleteAlgorithm",
		"CreateModelPackage", "DescribeModelPackage", "ListModelPackages", "DeleteModelPackage", "UpdateModelPackage",
		"CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob",
		"CreateModel", "DescribeModel", "ListModels", "DeleteModel",
		"CreateTransformJob", "DescribeTransformJob", "ListTransformJobs", "StopTransformJob",
		"CreateEndpointConfig", "DescribeEndpointConfig", "ListEndpointConfigs", "DeleteEndpointConfig",
		"CreateEndpoint", "DescribeEndpoint", "ListEndpoints", "UpdateEndpoint", "DeleteEndpoint",
		"UpdateEndpointWeightsAndCapacities",
	},
	"logs": {
		"DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents",
		"CreateLogGroup", "CreateLogStream", "PutLogEvents",
	},
	"ecr": {
		"CreateRepository", "DescribeRepositories", "DeleteRepository", "ListImages", "DescribeImages",
		"BatchGetImage", "BatchDeleteImage", "PutImageTagMutability", "GetAuthorizationToken",
		"StartImageScan", "DescribeImageScanFindings",
	},
}

// --- botocore input -------------------------------------------------------

type bcRef struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	JSONName     string `json:"jsonName"`
}

type bcMember struct {
	Name string
	bcRef
}

// bcMembers keeps the members of a structure in model order.
type bcMembers []bcMember

func (m *bcMembers) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("members: want object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var ref bcRef
		if err := dec.Decode(&ref); err != nil {
			return err
		}
		*m = append(*m, bcMember{Name: tok.(string), bcRef: ref})
	}
	return nil
}

type bcShape struct {
	Type     string      `json:"type"`
	Members  bcMembers   `json:"members"`
	Required []string    `json:"required"`
	Min      json.Number `json:"min"`
	Max      json.Number `json:"max"`
	Pattern  string      `json:"pattern"`
	Enum     []string    `json:"enum"`
	Member   *bcRef      `json:"member"`
	Key      *bcRef      `json:"key"`
	Value    *bcRef      `json:"value"`
	Union    bool        `json:"union"`
}

type bcModel struct {
	Metadata struct {
		APIVersion   string `json:"apiVersion"`
		TargetPrefix string `json:"targetPrefix"`
		Protocol     string `json:"protocol"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input *bcRef `json:"input"`
	} `json:"operations"`
	Shapes map[string]bcShape `json:"shapes"`
}

// --- trimmed output (read by package shapes) ------------------------------

type outMember struct {
	Name         string `json:"name"`
	Shape        string `json:"shape"`
	LocationName string `json:"locationName,omitempty"`
	JSONName     string `json:"jsonName,omitempty"`
}

type outShape struct {
	Type     string      `json:"type"`
	Members  []outMember `json:"members,omitempty"`
	Required []string    `json:"required,omitempty"`
	Min      json.Number `json:"min,omitempty"`
	Max      json.Number `json:"max,omitempty"`
	Pattern  string      `json:"pattern,omitempty"`
	Enum     []string    `json:"enum,omitempty"`
	Member   string      `json:"member,omitempty"`
	Key      string      `json:"key,omitempty"`
	Value    string      `json:"value,omitempty"`
	Union    bool        `json:"union,omitempty"`
}

func main() {
	botocoreDir := flag.String("botocore", "", "botocore package directory (default: ask python3)")
	outDir := flag.String("out", "models", "output directory")
	flag.Parse()
	if err := run(*botocoreDir, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(botocoreDir, outDir string) error {
	if botocoreDir == "" {
		out, err := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
		if err != nil {
			return fmt.Errorf("locate botocore (pass -botocore): %w", err)
		}
		botocoreDir = strings.TrimSpace(string(out))
	}
	version := botocoreVersion(botocoreDir)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(services))
	for s := range services {
		names = append(names, s)
	}
	sort.Strings(names)
	var failures []string
	for _, svc := range names {
		m, apiVersion, err := loadBotocore(botocoreDir, svc)
		if err != nil {
			return err
		}
		data, patterns, err := trim(svc, m, services[svc], version)
		if err != nil {
			return err
		}
		path := filepath.Join(outDir, svc+".json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %s/%s, %d operations, %d bytes\n", path, svc, apiVersion, len(services[svc]), len(data))
		for _, p := range patterns {
			_, method, err := javare.Explain(p.pattern)
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s %s: %v", svc, p.shape, err))
			case method == javare.Tabled:
				fmt.Printf("  translation table: %s %s: %s\n", svc, p.shape, p.pattern)
			}
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d pattern(s) cannot be applied; add them to javare.Table:\n  %s",
			len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

func botocoreVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "__init__.py"))
	if err != nil {
		return "botocore"
	}
	m := regexp.MustCompile(`__version__\s*=\s*['"]([^'"]+)['"]`).FindSubmatch(b)
	if m == nil {
		return "botocore"
	}
	return "botocore " + string(m[1])
}

func loadBotocore(dir, svc string) (*bcModel, string, error) {
	base := filepath.Join(dir, "data", svc)
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, "", fmt.Errorf("service %s: %w", svc, err)
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() {
			versions = append(versions, e.Name())
		}
	}
	if len(versions) == 0 {
		return nil, "", fmt.Errorf("service %s: no model version under %s", svc, base)
	}
	slices.Sort(versions)
	vdir := filepath.Join(base, versions[len(versions)-1])
	var r io.Reader
	if f, err := os.Open(filepath.Join(vdir, "service-2.json.gz")); err == nil {
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, "", err
		}
		r = gz
	} else if f, err := os.Open(filepath.Join(vdir, "service-2.json")); err == nil {
		defer f.Close()
		r = f
	} else {
		return nil, "", fmt.Errorf("service %s: no service-2.json[.gz] in %s", svc, vdir)
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var m bcModel
	if err := dec.Decode(&m); err != nil {
		return nil, "", fmt.Errorf("service %s: %w", svc, err)
	}
	if m.Metadata.Protocol != "json" {
		return nil, "", fmt.Errorf("service %s: protocol %q, want json", svc, m.Metadata.Protocol)
	}
	return &m, versions[len(versions)-1], nil
}

type patternUse struct{ shape, pattern string }

func trim(svc string, m *bcModel, ops []string, source string) ([]byte, []patternUse, error) {
	opsOut := map[string]map[string]string{}
	var stack []string
	for _, op := range ops {
		o, ok := m.Operations[op]
		if !ok {
			return nil, nil, fmt.Errorf("service %s: no operation %s", svc, op)
		}
		entry := map[string]string{}
		if o.Input != nil {
			entry["input"] = o.Input.Shape
			stack = append(stack, o.Input.Shape)
		}
		opsOut[op] = entry
	}
	shapes := map[string]outShape{}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, done := shapes[name]; done {
			continue
		}
		s, ok := m.Shapes[name]
		if !ok {
			return nil, nil, fmt.Errorf("service %s: missing shape %s", svc, name)
		}
		o := outShape{Type: s.Type, Required: s.Required, Min: s.Min, Max: s.Max, Pattern: s.Pattern, Enum: s.Enum, Union: s.Union}
		for _, mem := range s.Members {
			o.Members = append(o.Members, outMember{Name: mem.Name, Shape: mem.Shape, LocationName: mem.LocationName, JSONName: mem.JSONName})
			stack = append(stack, mem.Shape)
		}
		for _, ref := range []struct {
			r   *bcRef
			dst *string
		}{{s.Member, &o.Member}, {s.Key, &o.Key}, {s.Value, &o.Value}} {
			if ref.r != nil {
				*ref.dst = ref.r.Shape
				stack = append(stack, ref.r.Shape)
			}
		}
		shapes[name] = o
	}

	var buf bytes.Buffer
	enc := func(v any) {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			panic(err)
		}
		buf.Write(bytes.TrimRight(b.Bytes(), "\n"))
	}
	buf.WriteString(`{"service":`)
	enc(svc)
	buf.WriteString(`,"apiVersion":`)
	enc(m.Metadata.APIVersion)
	buf.WriteString(`,"targetPrefix":`)
	enc(m.Metadata.TargetPrefix)
	buf.WriteString(`,"source":`)
	enc(source)
	buf.WriteString(",\n\"operations\":")
	enc(opsOut)
	buf.WriteString(",\n\"shapes\":{\n")
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var patterns []patternUse
	for i, n := range names {
		enc(n)
		buf.WriteByte(':')
		enc(shapes[n])
		if i < len(names)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		if p := shapes[n].Pattern; p != "" {
			patterns = append(patterns, patternUse{n, p})
		}
	}
	buf.WriteString("}}\n")
	if !json.Valid(buf.Bytes()) {
		return nil, nil, errors.New("internal error: generated invalid JSON")
	}
	return buf.Bytes(), patterns, nil
}
