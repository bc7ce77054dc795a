// Package shapes validates AWS JSON request bodies against trimmed botocore
// service models, producing the errors the real services return.
//
// The models under models/ are generated (go generate; see gen/) from
// botocore's service-2.json and hold only the operations Wharf serves and the
// shapes reachable from their input shapes. They are checked in, so building
// never needs Python.
//
// # Validation
//
// Model.Validate parses a request body and checks it against an operation's
// input shape the way AWS (Coral) services do, collecting every violation into
// one ValidationException message (see [ValidationError] for the format).
// Checked: required members, string length (Unicode code points) min/max,
// numeric min/max, list and map length min/max, patterns (Java semantics,
// full match; see package javare), enums, recursively through structures,
// lists and maps. Members the model does not know are ignored (newer SDKs send
// newer members). A JSON value of the wrong type (a string where a number or a
// structure is expected, ...) or malformed JSON is a [SerializationError]
// instead: the service fails to deserialize before it validates.
//
// Paths name members in lowerCamelCase joined by ".". Items of a list of
// structures (or of lists/maps) are "<list>.<1-based index>.member"
// (inputDataConfig.1.member.channelName). Values of a map whose values are
// structures, lists or maps are "<map>.<key>.member" (Wharf's choice; no model
// served today has one). As on AWS, a list of scalars whose items break their
// constraints yields one violation at the list's path, "Member must satisfy
// constraint: [<every constraint of the item shape>, Member must not be null]",
// and a map of scalars "Map keys must satisfy constraint: [...]" or "Map value
// must satisfy constraint: [...]".
//
// Values are rendered as Java would print them: strings raw, integers in
// decimal, floats like Double.toString (1.0, 1.5E-7), booleans true/false,
// lists "[a, b]", objects and maps "{Key=a, Value=b}" (document order), and a
// missing value as an unquoted null (Value null at 'x' ...), as AWS does.
package shapes

//go:generate go run ./gen -out models

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/wharfml/wharf/internal/awsapi/shapes/javare"
)

//go:embed models/*.json
var modelFS embed.FS

// ErrUnknownOperation is returned (wrapped) by Validate for an operation the
// model does not hold.
var ErrUnknownOperation = errors.New("operation not in model")

// Model is the trimmed model of one service.
type Model struct {
	Service      string `json:"service"`      // botocore name: sagemaker, logs, ecr
	APIVersion   string `json:"apiVersion"`   // e.g. 2017-07-24
	TargetPrefix string `json:"targetPrefix"` // X-Amz-Target prefix without the dot, e.g. SageMaker
	Source       string `json:"source"`       // botocore version the model came from

	ops    map[string]operation
	shapes map[string]*shape
}

// modelFile is the layout of models/<service>.json (written by gen).
type modelFile struct {
	Service      string               `json:"service"`
	APIVersion   string               `json:"apiVersion"`
	TargetPrefix string               `json:"targetPrefix"`
	Source       string               `json:"source"`
	Operations   map[string]operation `json:"operations"`
	Shapes       map[string]*shape    `json:"shapes"`
}

type operation struct {
	Input string `json:"input"`
}

type member struct {
	Name         string `json:"name"`
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	JSONName     string `json:"jsonName"`
}

type shape struct {
	Type     string      `json:"type"`
	Members  []member    `json:"members"`
	Required []string    `json:"required"`
	Min      json.Number `json:"min"`
	Max      json.Number `json:"max"`
	Pattern  string      `json:"pattern"`
	Enum     []string    `json:"enum"`
	Member   string      `json:"member"`
	Key      string      `json:"key"`
	Value    string      `json:"value"`
	Union    bool        `json:"union"`

	name     string
	required map[string]bool
	enumSet  map[string]bool

	reOnce  sync.Once
	matcher javare.Matcher
	reErr   error
}

// patternCache shares compiled patterns between shapes and models
// (pattern text -> javare.Matcher).
var patternCache sync.Map

// compiled returns the shape's pattern matcher, compiling it on first use.
func (s *shape) compiled() (javare.Matcher, error) {
	s.reOnce.Do(func() {
		if m, ok := patternCache.Load(s.Pattern); ok {
			s.matcher = m.(javare.Matcher)
			return
		}
		s.matcher, s.reErr = javare.Compile(s.Pattern)
		if s.reErr != nil {
			s.reErr = fmt.Errorf("shapes: shape %s: %w", s.name, s.reErr)
			return
		}
		patternCache.Store(s.Pattern, s.matcher)
	})
	return s.matcher, s.reErr
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Model{}
)

// Services lists the services with an embedded model.
func Services() []string {
	entries, _ := modelFS.ReadDir("models")
	var out []string
	for _, e := range entries {
		if n := e.Name(); len(n) > 5 && n[len(n)-5:] == ".json" {
			out = append(out, n[:len(n)-5])
		}
	}
	sort.Strings(out)
	return out
}

// Load returns the embedded model of a service (botocore name: "sagemaker",
// "logs", "ecr"). Models are parsed once and shared; they are safe for
// concurrent use.
func Load(service string) (*Model, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if m, ok := loaded[service]; ok {
		return m, nil
	}
	data, err := modelFS.ReadFile("models/" + service + ".json")
	if err != nil {
		return nil, fmt.Errorf("shapes: no model for service %q", service)
	}
	m, err := parseModel(data)
	if err != nil {
		return nil, fmt.Errorf("shapes: model %s: %w", service, err)
	}
	loaded[service] = m
	return m, nil
}

// MustLoad is Load that panics on error.
func MustLoad(service string) *Model {
	m, err := Load(service)
	if err != nil {
		panic(err)
	}
	return m
}

func parseModel(data []byte) (*Model, error) {
	var f modelFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	m := Model{Service: f.Service, APIVersion: f.APIVersion, TargetPrefix: f.TargetPrefix, Source: f.Source,
		ops: f.Operations, shapes: f.Shapes}
	for name, s := range m.shapes {
		s.name = name
		if len(s.Required) > 0 {
			s.required = make(map[string]bool, len(s.Required))
			for _, r := range s.Required {
				s.required[r] = true
			}
		}
		if len(s.Enum) > 0 {
			s.enumSet = make(map[string]bool, len(s.Enum))
			for _, e := range s.Enum {
				s.enumSet[e] = true
			}
		}
	}
	check := func(from, ref string) error {
		if ref != "" && m.shapes[ref] == nil {
			return fmt.Errorf("shape %s refers to missing shape %s", from, ref)
		}
		return nil
	}
	for name, s := range m.shapes {
		for _, mem := range s.Members {
			if err := check(name, mem.Shape); err != nil {
				return nil, err
			}
		}
		for _, ref := range []string{s.Member, s.Key, s.Value} {
			if err := check(name, ref); err != nil {
				return nil, err
			}
		}
	}
	for name, op := range m.ops {
		if err := check(name, op.Input); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// HasOperation reports whether the model holds the operation.
func (m *Model) HasOperation(op string) bool {
	_, ok := m.ops[op]
	return ok
}

// Operations lists the model's operations, sorted.
func (m *Model) Operations() []string {
	out := make([]string, 0, len(m.ops))
	for op := range m.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// Patterns returns every distinct pattern of the model with the name of one
// shape using it, for tests and reports.
func (m *Model) Patterns() map[string]string {
	out := map[string]string{}
	for name, s := range m.shapes {
		if s.Pattern != "" {
			if prev, ok := out[s.Pattern]; !ok || name < prev {
				out[s.Pattern] = name
			}
		}
	}
	return out
}

// CompilePatterns compiles every pattern of the model now (they are otherwise
// compiled on first use) and returns the errors, one per failing shape.
func (m *Model) CompilePatterns() []error {
	var errs []error
	names := make([]string, 0, len(m.shapes))
	for n := range m.shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if s := m.shapes[n]; s.Pattern != "" {
			if _, err := s.compiled(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}
