package scan

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxRecordSize caps one OSV JSON record (loose or inside a zip).
const maxRecordSize = 16 << 20

type osvEvent struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

type osvDBSpecific struct {
	Severity json.RawMessage `json:"severity,omitempty"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges            []osvRange     `json:"ranges"`
	Versions          []string       `json:"versions"`
	DatabaseSpecific  *osvDBSpecific `json:"database_specific,omitempty"`
	EcosystemSpecific *osvDBSpecific `json:"ecosystem_specific,omitempty"`
	Severity          []osvSeverity  `json:"severity,omitempty"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvRecord struct {
	ID               string         `json:"id"`
	Modified         string         `json:"modified"`
	Withdrawn        string         `json:"withdrawn,omitempty"`
	Aliases          []string       `json:"aliases"`
	Summary          string         `json:"summary"`
	Details          string         `json:"details"`
	Severity         []osvSeverity  `json:"severity"`
	Affected         []osvAffected  `json:"affected"`
	DatabaseSpecific *osvDBSpecific `json:"database_specific,omitempty"`
	References       []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"references"`
}

// DBStats counts what LoadAdvisories read.
type DBStats struct {
	Files      int            `json:"files"`            // loose *.json files read
	Zips       int            `json:"zips"`             // all.zip archives read
	Records    int            `json:"records"`          // advisories kept (after de-duplication)
	Withdrawn  int            `json:"withdrawn"`        // skipped: withdrawn
	Malformed  int            `json:"malformed"`        // skipped: unreadable, not JSON, no id
	Duplicates int            `json:"duplicates"`       // same id seen again (newest modified kept)
	Ecosystems map[string]int `json:"ecosystems"`       // affected entries per ecosystem
	Errors     []string       `json:"errors,omitempty"` // first few reasons for Malformed
}

type advisory struct {
	rec      *osvRecord
	severity string
}

type affectedRef struct {
	adv *advisory
	aff *osvAffected
}

// DB is an immutable index of OSV advisories by (ecosystem, package name).
// Reload by calling LoadAdvisories again and swapping the pointer.
type DB struct {
	index map[string]map[string][]affectedRef // ecosystem -> name -> entries
	stats DBStats
}

// Stats returns the load counters.
func (db *DB) Stats() DBStats { return db.stats }

// LoadAdvisories reads every *.json OSV record under dir (recursively) and
// every all.zip export (a zip of OSV json files, as osv.dev publishes per
// ecosystem at <Ecosystem>/all.zip). Malformed records are counted, not fatal;
// only an unreadable dir is an error.
func LoadAdvisories(dir string) (*DB, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("scan: advisories: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("scan: advisories: %s is not a directory", dir)
	}
	l := &loader{byID: map[string]*osvRecord{}}
	l.stats.Ecosystems = map[string]int{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.bad("%s: %v", p, err)
			if d != nil && d.IsDir() && p != dir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		name := strings.ToLower(d.Name())
		switch {
		case strings.HasSuffix(name, ".json"):
			l.stats.Files++
			l.loadFile(p)
		case name == "all.zip":
			l.stats.Zips++
			l.loadZip(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: advisories: %w", err)
	}
	return l.build(), nil
}

type loader struct {
	byID  map[string]*osvRecord
	stats DBStats
}

func (l *loader) bad(format string, args ...any) {
	l.stats.Malformed++
	if len(l.stats.Errors) < 20 {
		l.stats.Errors = append(l.stats.Errors, fmt.Sprintf(format, args...))
	}
}

func (l *loader) loadFile(p string) {
	f, err := os.Open(p)
	if err != nil {
		l.bad("%s: %v", p, err)
		return
	}
	defer f.Close()
	l.parse(p, f)
}

func (l *loader) loadZip(p string) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		l.bad("%s: %v", p, err)
		return
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.HasSuffix(strings.ToLower(zf.Name), ".json") {
			continue
		}
		name := p + "!" + zf.Name
		if zf.UncompressedSize64 > maxRecordSize {
			l.bad("%s: record too large", name)
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			l.bad("%s: %v", name, err)
			continue
		}
		l.parse(name, rc)
		rc.Close()
	}
}

func (l *loader) parse(name string, r io.Reader) {
	data, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
	if err != nil {
		l.bad("%s: %v", name, err)
		return
	}
	if len(data) > maxRecordSize {
		l.bad("%s: record too large", name)
		return
	}
	var rec osvRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		l.bad("%s: %v", name, err)
		return
	}
	if rec.ID == "" {
		l.bad("%s: no id", name)
		return
	}
	if rec.Withdrawn != "" {
		l.stats.Withdrawn++
		return
	}
	if old, ok := l.byID[rec.ID]; ok {
		l.stats.Duplicates++
		if old.Modified >= rec.Modified {
			return
		}
	}
	l.byID[rec.ID] = &rec
}

func (l *loader) build() *DB {
	db := &DB{index: map[string]map[string][]affectedRef{}}
	ids := make([]string, 0, len(l.byID))
	for id := range l.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := l.byID[id]
		adv := &advisory{rec: rec, severity: recordSeverity(rec, nil)}
		for i := range rec.Affected {
			aff := &rec.Affected[i]
			eco := normalizeEcosystem(aff.Package.Ecosystem)
			name := aff.Package.Name
			if eco == "" || name == "" {
				continue
			}
			if eco == "PyPI" {
				name = NormalizePyPI(name)
			}
			m := db.index[eco]
			if m == nil {
				m = map[string][]affectedRef{}
				db.index[eco] = m
			}
			m[name] = append(m[name], affectedRef{adv: adv, aff: aff})
			l.stats.Ecosystems[eco]++
		}
	}
	l.stats.Records = len(l.byID)
	db.stats = l.stats
	return db
}

// normalizeEcosystem maps "Ubuntu:22.04:LTS" to "Ubuntu:22.04"; Ubuntu Pro
// and FIPS streams are not matched against plain Ubuntu images.
func normalizeEcosystem(e string) string {
	if strings.HasPrefix(e, "Ubuntu:") {
		parts := strings.Split(e, ":")
		if len(parts) >= 2 && parts[1] != "" && parts[1][0] >= '0' && parts[1][0] <= '9' {
			return "Ubuntu:" + parts[1]
		}
		return ""
	}
	return e
}
