package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/wharfml/wharf/internal/store"
)

// Scan statuses, as ECR names them.
const (
	StatusInProgress = "IN_PROGRESS"
	StatusComplete   = "COMPLETE"
	StatusFailed     = "FAILED"
)

// resourceType is the store type of scan results.
const resourceType = "image-scan"

// ImageSource opens stored images for scanning.
type ImageSource interface {
	V1Image(ctx context.Context, repo, digest string) (v1.Image, error)
}

// Result is the outcome of one image's scan.
type Result struct {
	Status      string
	Description string
	StartedAt   time.Time
	CompletedAt time.Time
	// AdvisoriesAt is when the advisory database used was loaded.
	AdvisoriesAt time.Time
	Findings     []Finding
	SBOM         *SBOM
	// Contract is the contract check of the image config (set with SBOM,
	// for validation to read through Get).
	Contract *Contract `json:",omitempty"`
}

// SeverityCounts counts findings by severity.
func (r Result) SeverityCounts() map[string]int32 {
	out := map[string]int32{}
	for _, f := range r.Findings {
		out[f.Severity]++
	}
	return out
}

// Service scans images in the background and keeps the results in the
// metadata store. Scans survive restarts: queued ones run again.
type Service struct {
	Store   store.Store
	Images  ImageSource
	Options Options
	Logger  *slog.Logger
	// Timeout bounds one scan (0: 30 minutes).
	Timeout time.Duration

	db      atomic.Pointer[dbLoaded]
	once    sync.Once // Run and Enqueue may start at the same time
	queue   chan target
	Workers int
}

type dbLoaded struct {
	db *DB
	at time.Time
}

type target struct{ account, repo, digest string }

func (s *Service) init() {
	s.once.Do(func() {
		s.queue = make(chan target, 1024)
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
	})
}

// SetAdvisories replaces the advisory database used by later scans.
func (s *Service) SetAdvisories(db *DB) {
	s.db.Store(&dbLoaded{db: db, at: time.Now().UTC()})
}

// LoadAdvisories (re)loads the advisory database from dir.
func (s *Service) LoadAdvisories(dir string) (DBStats, error) {
	db, err := LoadAdvisories(dir)
	if err != nil {
		return DBStats{}, err
	}
	s.SetAdvisories(db)
	return db.Stats(), nil
}

func name(repo, digest string) string { return repo + "@" + digest }

// Enqueue records a scan as IN_PROGRESS and queues it.
func (s *Service) Enqueue(ctx context.Context, account, repo, digest string) error {
	s.init()
	res := Result{Status: StatusInProgress, StartedAt: time.Now().UTC()}
	if err := s.save(ctx, account, repo, digest, res); err != nil {
		return err
	}
	select {
	case s.queue <- target{account, repo, digest}:
	default:
		// The queue is full: Run picks IN_PROGRESS scans up again later.
	}
	return nil
}

// Get returns a scan's result; ok is false if the image was never scanned.
// A complete result carries the SBOM and the contract check.
func (s *Service) Get(ctx context.Context, account, repo, digest string) (Result, bool, error) {
	r, err := s.Store.GetResource(ctx, account, resourceType, name(repo, digest))
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	var res Result
	if err := json.Unmarshal(r.Doc, &res); err != nil {
		return Result{}, false, fmt.Errorf("decode scan of %s: %w", name(repo, digest), err)
	}
	return res, true, nil
}

func (s *Service) save(ctx context.Context, account, repo, digest string, res Result) error {
	doc, err := json.Marshal(res)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	r, err := s.Store.GetResource(ctx, account, resourceType, name(repo, digest))
	if errors.Is(err, store.ErrNotFound) {
		err = s.Store.CreateResource(ctx, store.Resource{Account: account, Type: resourceType, Name: name(repo, digest),
			ARN: "wharf:image-scan:" + account + ":" + name(repo, digest), Status: res.Status, Created: now, Modified: now, Doc: doc})
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		r, err = s.Store.GetResource(ctx, account, resourceType, name(repo, digest))
	}
	if err != nil {
		return err
	}
	r.Status, r.Modified, r.Doc = res.Status, now, doc
	_, err = s.Store.UpdateResource(ctx, r)
	return err
}

// Run scans queued images until ctx ends, re-queueing scans left
// IN_PROGRESS by an earlier process.
func (s *Service) Run(ctx context.Context) {
	s.init()
	pending, err := s.Store.ListResources(ctx, store.ResourceQuery{Type: resourceType, Status: StatusInProgress})
	if err == nil {
		go func() {
			for _, r := range pending {
				repo, digest := splitName(r.Name)
				select {
				case s.queue <- target{r.Account, repo, digest}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	workers := max(s.Workers, 1)
	done := make(chan struct{}, workers)
	for i := 0; i < workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-s.queue:
					s.scan(ctx, t)
				}
			}
		}()
	}
	for i := 0; i < workers; i++ {
		<-done
	}
}

func splitName(n string) (repo, digest string) {
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == '@' {
			return n[:i], n[i+1:]
		}
	}
	return n, ""
}

// scan inventories one image and matches it against the advisories.
func (s *Service) scan(ctx context.Context, t target) {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := Result{Status: StatusFailed, StartedAt: time.Now().UTC()}
	img, err := s.Images.V1Image(sctx, t.repo, t.digest)
	var sbom *SBOM
	var contract *Contract
	if err == nil {
		sbom, contract, err = Analyze(sctx, img, s.Options)
	}
	if ctx.Err() != nil {
		return // shutting down: stays IN_PROGRESS and runs again next start
	}
	res.CompletedAt = time.Now().UTC()
	if err != nil {
		res.Description = "The scan failed: " + err.Error()
		s.Logger.Warn("scan failed", "repository", t.repo, "digest", t.digest, "err", err)
	} else {
		res.Status, res.SBOM, res.Contract = StatusComplete, sbom, contract
		res.Description = "The scan was completed successfully."
		if loaded := s.db.Load(); loaded != nil {
			res.Findings, res.AdvisoriesAt = loaded.db.Match(sbom), loaded.at
		} else {
			res.Description = "The scan was completed, but no advisory database is loaded (start Wharf with --advisories)."
		}
	}
	if err := s.save(context.WithoutCancel(ctx), t.account, t.repo, t.digest, res); err != nil {
		s.Logger.Error("store scan result", "repository", t.repo, "digest", t.digest, "err", err)
	}
}
