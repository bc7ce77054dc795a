package scan

import (
	"encoding/json"
	"math"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// Severity levels, as ECR reports them.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUndefined     = "UNDEFINED"
)

// Finding is one advisory that applies to one package.
type Finding struct {
	ID           string   `json:"id"`
	Aliases      []string `json:"aliases,omitempty"`
	Package      Package  `json:"package"`
	FixedVersion string   `json:"fixedVersion,omitempty"`
	Severity     string   `json:"severity"`
	Summary      string   `json:"summary,omitempty"`
	Description  string   `json:"description,omitempty"`
	URI          string   `json:"uri,omitempty"`
}

// Match returns the findings for s, sorted by severity then id.
// OS packages are matched on their source package (dpkg Source, apk origin).
func (db *DB) Match(s *SBOM) []Finding {
	out := []Finding{}
	if db == nil || s == nil {
		return out
	}
	type key struct{ id, eco, name, ver, path string }
	seen := map[key]bool{}
	for _, p := range s.Packages {
		name, ver := p.Name, p.Version
		if p.SourceName != "" {
			name = p.SourceName
		}
		if p.SourceVersion != "" {
			ver = p.SourceVersion
		}
		eco := p.Ecosystem
		if eco == "PyPI" {
			name = NormalizePyPI(name)
		}
		refs := db.index[eco][name]
		if len(refs) == 0 {
			continue
		}
		v, err := semantic.Parse(ver, eco)
		if err != nil {
			continue
		}
		for _, r := range refs {
			hit, fixed := affects(r.aff, eco, ver, v)
			if !hit {
				continue
			}
			k := key{r.adv.rec.ID, eco, name, ver, p.Path}
			if seen[k] {
				continue
			}
			seen[k] = true
			sev := r.adv.severity
			if sev == SeverityUndefined {
				sev = recordSeverity(r.adv.rec, r.aff)
			}
			out = append(out, Finding{
				ID: r.adv.rec.ID, Aliases: r.adv.rec.Aliases, Package: p,
				FixedVersion: fixed, Severity: sev,
				Summary: r.adv.rec.Summary, Description: r.adv.rec.Details,
				URI: advisoryURI(r.adv.rec),
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := severityRank(out[i].Severity), severityRank(out[j].Severity)
		if a != b {
			return a > b
		}
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Package.Name < out[j].Package.Name
	})
	return out
}

func advisoryURI(rec *osvRecord) string {
	for _, r := range rec.References {
		if r.Type == "ADVISORY" && r.URL != "" {
			return r.URL
		}
	}
	return "https://osv.dev/vulnerability/" + rec.ID
}

func trimV(s string) string { return strings.TrimPrefix(s, "v") }

// affects evaluates one affected entry against version ver (parsed as v).
func affects(aff *osvAffected, eco, ver string, v semantic.Version) (bool, string) {
	goEco := eco == "Go"
	for _, lv := range aff.Versions {
		if lv == ver || (goEco && trimV(lv) == trimV(ver)) {
			return true, firstFixedAbove(aff, v)
		}
	}
	for _, rg := range aff.Ranges {
		if rg.Type != "ECOSYSTEM" && rg.Type != "SEMVER" {
			continue
		}
		if hit, fixed := inRange(rg, eco, v); hit {
			return true, fixed
		}
	}
	return false, ""
}

type parsedEvent struct {
	ev  osvEvent
	val string // the version the event names
	ord int    // 0 introduced, 1 fixed / last_affected (ties: introduced first)
}

// inRange implements the OSV evaluation: events are sorted by version and
// walked in order; introduced ≤ v turns on, fixed ≤ v or last_affected < v turns off.
func inRange(rg osvRange, eco string, v semantic.Version) (bool, string) {
	evs := make([]parsedEvent, 0, len(rg.Events))
	for _, e := range rg.Events {
		switch {
		case e.Introduced != "":
			evs = append(evs, parsedEvent{e, e.Introduced, 0})
		case e.Fixed != "":
			evs = append(evs, parsedEvent{e, e.Fixed, 1})
		case e.LastAffected != "":
			evs = append(evs, parsedEvent{e, e.LastAffected, 1})
		}
	}
	// cmpEv returns the order of event value vs the package version: <0 if event < v.
	cmpEv := func(val string) (int, bool) {
		if val == "0" {
			return -1, true
		}
		c, err := v.CompareStr(val)
		if err != nil {
			return 0, false
		}
		return -c, true
	}
	parsed := make(map[string]semantic.Version, len(evs))
	for _, e := range evs {
		if e.val == "0" {
			continue
		}
		if pv, err := semantic.Parse(e.val, eco); err == nil {
			parsed[e.val] = pv
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].val, evs[j].val
		if a == b {
			return evs[i].ord < evs[j].ord
		}
		if a == "0" || b == "0" {
			return a == "0"
		}
		pa, pb := parsed[a], parsed[b]
		if pa == nil || pb == nil {
			return false
		}
		c, err := pa.Compare(pb)
		if err != nil {
			return false
		}
		if c == 0 {
			return evs[i].ord < evs[j].ord
		}
		return c < 0
	})
	affected := false
	fixed := ""
	for _, e := range evs {
		c, ok := cmpEv(e.val)
		if !ok {
			continue
		}
		switch {
		case e.ev.Introduced != "":
			if c <= 0 {
				affected = true
			}
		case e.ev.Fixed != "":
			if c <= 0 {
				affected = false
			} else if affected && fixed == "" {
				fixed = e.ev.Fixed
			}
		case e.ev.LastAffected != "":
			if c < 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, ""
	}
	return true, fixed
}

func firstFixedAbove(aff *osvAffected, v semantic.Version) string {
	for _, rg := range aff.Ranges {
		for _, e := range rg.Events {
			if e.Fixed == "" {
				continue
			}
			if c, err := v.CompareStr(e.Fixed); err == nil && c < 0 {
				return e.Fixed
			}
		}
	}
	return ""
}

// recordSeverity derives the ECR severity: database_specific.severity (record,
// then the affected entry's database/ecosystem specific), else the highest CVSS
// v3 base score among severity[], else a textual severity (Ubuntu's), else UNDEFINED.
func recordSeverity(rec *osvRecord, aff *osvAffected) string {
	var texts []json.RawMessage
	var sevs []osvSeverity
	if aff == nil {
		if rec.DatabaseSpecific != nil {
			texts = append(texts, rec.DatabaseSpecific.Severity)
		}
		sevs = rec.Severity
	} else {
		if aff.DatabaseSpecific != nil {
			texts = append(texts, aff.DatabaseSpecific.Severity)
		}
		if aff.EcosystemSpecific != nil {
			texts = append(texts, aff.EcosystemSpecific.Severity)
		}
		sevs = aff.Severity
	}
	for _, t := range texts {
		var s string
		if len(t) > 0 && json.Unmarshal(t, &s) == nil {
			if sev := mapSeverityText(s); sev != SeverityUndefined {
				return sev
			}
		}
	}
	best := -1.0
	for _, s := range sevs {
		if s.Type == "CVSS_V3" || strings.HasPrefix(s.Score, "CVSS:3.") {
			if score, ok := CVSS3BaseScore(s.Score); ok && score > best {
				best = score
			}
		}
	}
	if best >= 0 {
		return scoreSeverity(best)
	}
	for _, s := range sevs {
		if sev := mapSeverityText(s.Score); sev != SeverityUndefined {
			return sev
		}
	}
	return SeverityUndefined
}

func mapSeverityText(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return SeverityCritical
	case "HIGH", "IMPORTANT":
		return SeverityHigh
	case "MODERATE", "MEDIUM":
		return SeverityMedium
	case "LOW":
		return SeverityLow
	case "NEGLIGIBLE", "UNIMPORTANT", "INFORMATIONAL", "NONE":
		return SeverityInformational
	}
	return SeverityUndefined
}

func scoreSeverity(s float64) string {
	switch {
	case s >= 9.0:
		return SeverityCritical
	case s >= 7.0:
		return SeverityHigh
	case s >= 4.0:
		return SeverityMedium
	case s >= 0.1:
		return SeverityLow
	}
	return SeverityInformational
}

func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityInformational:
		return 1
	}
	return 0
}

// CVSS3BaseScore computes the CVSS v3.0/v3.1 base score of a vector such as
// "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" (9.8).
func CVSS3BaseScore(vector string) (float64, bool) {
	parts := strings.Split(vector, "/")
	if len(parts) < 9 || !strings.HasPrefix(parts[0], "CVSS:3.") {
		return 0, false
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, false
		}
		m[k] = v
	}
	pick := func(k string, vals map[string]float64) (float64, bool) {
		x, ok := vals[m[k]]
		return x, ok
	}
	scopeChanged := m["S"] == "C"
	if m["S"] != "C" && m["S"] != "U" {
		return 0, false
	}
	av, ok1 := pick("AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2})
	ac, ok2 := pick("AC", map[string]float64{"L": 0.77, "H": 0.44})
	prVals := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if scopeChanged {
		prVals = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	pr, ok3 := pick("PR", prVals)
	ui, ok4 := pick("UI", map[string]float64{"N": 0.85, "R": 0.62})
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	c, ok5 := pick("C", cia)
	i, ok6 := pick("I", cia)
	a, ok7 := pick("A", cia)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	iss := 1 - (1-c)*(1-i)*(1-a)
	var impact float64
	if scopeChanged {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0, true
	}
	expl := 8.22 * av * ac * pr * ui
	if scopeChanged {
		return roundup(math.Min(1.08*(impact+expl), 10)), true
	}
	return roundup(math.Min(impact+expl, 10)), true
}

// roundup is CVSS 3.1's Roundup (Appendix A), robust to float error.
func roundup(x float64) float64 {
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return float64(n) / 100000
	}
	return float64(n/10000+1) / 10
}
