// Package server wires Wharf together: it opens the embedded stores under a
// data dir, bootstraps the root account, and serves every protocol on one
// listener, dispatching each request by what it is (see route).
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/awsapi/shapes"
	"github.com/wharfml/wharf/internal/awsapi/sigv4"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
	"github.com/wharfml/wharf/internal/ecr"
	"github.com/wharfml/wharf/internal/endpoint"
	"github.com/wharfml/wharf/internal/iam"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/logs"
	"github.com/wharfml/wharf/internal/registry"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/s3api"
	"github.com/wharfml/wharf/internal/sagemaker"
	"github.com/wharfml/wharf/internal/sbomapi"
	"github.com/wharfml/wharf/internal/scan"
	"github.com/wharfml/wharf/internal/store/sqlite"
	"github.com/wharfml/wharf/internal/sts"
	"github.com/wharfml/wharf/internal/training"
	"github.com/wharfml/wharf/internal/transform"
)

// Config is what a server needs to start.
type Config struct {
	DataDir string
	Region  string
	// RootAccessKeyID and RootSecretAccessKey, if set, become the root
	// account's keys when the data dir is first initialised.
	RootAccessKeyID     string
	RootSecretAccessKey string
	// Fsync makes every object write durable against power loss (fsync of
	// data, directory and index) at a cost of several milliseconds a write.
	// Without it a process crash still never exposes a partial object.
	Fsync bool
	// Runtime runs job containers; nil means jobs fail with a clear reason.
	Runtime runtime.Runtime
	// Catalog maps instance types onto container limits (nil: full size, no GPUs).
	Catalog *instances.Catalog
	// MaxConcurrentJobs caps training jobs running at once (0: 4).
	MaxConcurrentJobs int
	// AdvisoriesDir holds OSV advisories for image scans ("" : scans list
	// packages but find no vulnerabilities). ReloadAdvisories rereads it.
	AdvisoriesDir string
	// LogMaxBytesPerStream caps each job log stream (0: logs.DefaultMaxBytesPerStream).
	LogMaxBytesPerStream int64
	// StopGrace is the time between SIGTERM and SIGKILL when stopping jobs (0: 120 s).
	StopGrace time.Duration
	// TransformHealthTimeout bounds the wait for a transform container's
	// first healthy /ping (0: 240 s).
	TransformHealthTimeout time.Duration
	// EndpointHealthTimeout bounds the wait for an endpoint container's
	// first healthy /ping when the variant does not set one (0: 240 s).
	EndpointHealthTimeout time.Duration
	// EndpointMaxInFlight caps the invocations in flight to one endpoint
	// instance (default 64); more queue briefly, then get
	// ModelNotReadyException.
	EndpointMaxInFlight int
	Logger              *slog.Logger
}

// Data dir layout.
const (
	metadataFile        = "wharf.db"
	logsFile            = "logs.db"
	workDir             = "work"
	registryUploadDir   = "registry-uploads"
	blobDir             = "blobs"
	RootCredentialsFile = "root-credentials"
	signingKeyFile      = "signing.key"
)

var regionRE = regexp.MustCompile(`^[a-z0-9-]{9,16}$`)

// Server is a running Wharf instance's state.
type Server struct {
	cfg       Config
	log       *slog.Logger
	meta      *sqlite.Store
	blobs     *blobfs.Store
	logs      *logs.Store
	training  *training.Controller
	transform *transform.Controller
	endpoints *endpoint.Controller
	iam       *iam.Service
	verifier  *sigv4.Verifier
	metrics   *metrics
	ready     atomic.Bool

	sagemakerAPI *awsjson.Router
	adminAPI     *awsjson.Router
	logsAPI      *awsjson.Router
	ecrAPI       *awsjson.Router
	registry     *registry.Registry
	scans        *scan.Service
	s3           *s3api.Handler
	sts          *sts.Handler

	// CreatedRootCredentials is set when this start initialised the data dir
	// and wrote generated root keys to RootCredentialsFile.
	CreatedRootCredentials string
}

// Open initialises (if needed) and opens the data dir.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if !regionRE.MatchString(cfg.Region) {
		return nil, fmt.Errorf("region %q must be 9-16 characters of a-z, 0-9 and '-'", cfg.Region)
	}
	// An absolute data dir makes the paths Wharf prints usable from anywhere.
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics()}
	var err error
	if s.meta, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, metadataFile)); err != nil {
		return nil, err
	}
	if s.blobs, err = blobfs.Open(filepath.Join(cfg.DataDir, blobDir), blobfs.WithSync(cfg.Fsync)); err != nil {
		s.meta.Close()
		return nil, err
	}
	if s.logs, err = logs.Open(ctx, filepath.Join(cfg.DataDir, logsFile), logs.Options{MaxBytesPerStream: cfg.LogMaxBytesPerStream}); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Catalog == nil {
		if cfg.Catalog, err = instances.Default(1, false); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.iam = &iam.Service{Store: s.meta}
	if err := s.bootstrap(ctx); err != nil {
		s.Close()
		return nil, err
	}
	key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, signingKeyFile))
	if err != nil {
		s.Close()
		return nil, err
	}
	s.verifier = &sigv4.Verifier{Lookup: s.lookup}

	s.sagemakerAPI = &awsjson.Router{TargetPrefix: "SageMaker.", Model: shapes.MustLoad("sagemaker"), Logger: s.log}
	rt := cfg.Runtime
	if rt == nil {
		rt = runtime.Unavailable{Reason: "no container engine is configured (is the Docker Engine running?)"}
	}
	s.training = (&training.Controller{
		Store: s.meta, Blobs: s.blobs, Runtime: rt, Logs: s.logs, Catalog: cfg.Catalog,
		WorkDir: filepath.Join(cfg.DataDir, workDir, "training"), Region: cfg.Region,
		MaxConcurrent: cfg.MaxConcurrentJobs, StopGrace: cfg.StopGrace, Logger: s.log,
	}).New()
	s.transform = (&transform.Controller{
		Store: s.meta, Blobs: s.blobs, Runtime: rt, Logs: s.logs, Catalog: cfg.Catalog,
		WorkDir: filepath.Join(cfg.DataDir, workDir, "transform"), Region: cfg.Region,
		StopGrace: cfg.StopGrace, HealthTimeout: cfg.TransformHealthTimeout, Logger: s.log,
	}).New()
	s.endpoints = (&endpoint.Controller{
		Store: s.meta, Blobs: s.blobs, Runtime: rt, Logs: s.logs, Catalog: cfg.Catalog,
		WorkDir: filepath.Join(cfg.DataDir, workDir, "endpoints"), Region: cfg.Region,
		StopGrace: cfg.StopGrace, HealthTimeout: cfg.EndpointHealthTimeout, Logger: s.log,
		Metrics: endpoint.NewMetrics(), MaxInFlightPerHost: cfg.EndpointMaxInFlight,
	}).New()
	s.metrics.registry.MustRegister(s.endpoints.Metrics.Collectors()...)
	images := &imageChecker{runtime: rt}
	(&sagemaker.Service{Store: s.meta, Blobs: s.blobs, Catalog: cfg.Catalog, Region: cfg.Region, PageKey: key,
		Notify: s.notify, Images: images.check}).Register(s.sagemakerAPI)
	s.logsAPI = &awsjson.Router{TargetPrefix: "Logs_20140328.", Model: shapes.MustLoad("logs"), Logger: s.log}
	s.logs.Register(s.logsAPI, cfg.Region)
	s.scans = &scan.Service{Store: s.meta, Logger: s.log, Options: scan.Options{TempDir: filepath.Join(cfg.DataDir, workDir)}}
	if err := s.ReloadAdvisories(); err != nil {
		s.Close()
		return nil, err
	}
	s.registry, err = registry.New(ctx, registry.Config{
		Blobs: s.blobs, TempDir: filepath.Join(cfg.DataDir, registryUploadDir), Auth: registryAuth{s.iam},
		Logger: s.log, Key: deriveKey(key, "registry"),
		OnPush: func(ctx context.Context, ev registry.PushEvent) {
			if ev.ScanOnPush {
				if err := s.scans.Enqueue(context.WithoutCancel(ctx), ev.AccountID, ev.Repository, ev.Digest); err != nil {
					s.log.Error("queue scan on push", "repository", ev.Repository, "err", err)
				}
			}
		},
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start registry: %w", err)
	}
	s.training.Images = imageResolver{registry: s.registry, iam: s.iam}
	s.transform.Images = imageResolver{registry: s.registry, iam: s.iam}
	s.endpoints.Images = imageResolver{registry: s.registry, iam: s.iam}
	images.resolver = imageResolver{registry: s.registry, iam: s.iam}
	s.ecrAPI = &awsjson.Router{TargetPrefix: ecr.TargetPrefix, Model: shapes.MustLoad("ecr"), Logger: s.log}
	s.scans.Images = s.registry
	(&ecr.Service{Registry: s.registry, Region: cfg.Region, Scans: s.scans}).Register(s.ecrAPI)
	s.adminAPI = &awsjson.Router{TargetPrefix: admin.TargetPrefix, Logger: s.log}
	(&admin.Service{IAM: s.iam, Registry: s.registry}).Register(s.adminAPI)
	s.s3 = s3api.New(s3api.Config{Blobs: s.blobs, Buckets: s.meta, Region: cfg.Region, Logger: s.log})
	s.sts = &sts.Handler{Logger: s.log}
	s.ready.Store(true)
	return s, nil
}

// Start runs the controllers until ctx ends; call it once after Open.
// Cancel ctx and wait for the returned channel before Close.
func (s *Server) Start(ctx context.Context) <-chan struct{} {
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){s.training.Run, s.transform.Run, s.endpoints.Run, s.scans.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// ReloadAdvisories (re)reads the advisory directory; later scans use it.
func (s *Server) ReloadAdvisories() error {
	if s.cfg.AdvisoriesDir == "" {
		return nil
	}
	st, err := s.scans.LoadAdvisories(s.cfg.AdvisoriesDir)
	if err != nil {
		return fmt.Errorf("load advisories: %w", err)
	}
	s.log.Info("advisories loaded", "dir", s.cfg.AdvisoriesDir, "records", st.Records, "malformed", st.Malformed, "ecosystems", len(st.Ecosystems))
	return nil
}

// notify wakes the controller of a resource type.
func (s *Server) notify(kind string) {
	switch kind {
	case training.ResourceType:
		s.training.Notify()
	case transform.ResourceType:
		s.transform.Notify()
	case endpoint.ResourceType:
		s.endpoints.Notify()
	}
}

// bootstrap creates the root account on first start.
func (s *Server) bootstrap(ctx context.Context) error {
	creds, created, err := s.iam.Bootstrap(ctx, s.cfg.RootAccessKeyID, s.cfg.RootSecretAccessKey)
	if err != nil || !created {
		return err
	}
	if s.cfg.RootAccessKeyID != "" {
		s.log.Info("root account created with the keys from the environment", "access_key_id", creds.AccessKeyID)
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, RootCredentialsFile)
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", creds.AccessKeyID, creds.SecretAccessKey)
	if err := writeFileAtomic(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write root credentials: %w", err)
	}
	s.CreatedRootCredentials = path
	s.log.Info("root account created; its keys are in the credentials file", "path", path, "access_key_id", creds.AccessKeyID)
	return nil
}

// lookup adapts IAM's key lookup to the verifier's contract.
func (s *Server) lookup(ctx context.Context, keyID string) (string, awsapi.Identity, error) {
	secret, id, err := s.iam.Lookup(ctx, keyID)
	if errors.Is(err, iam.ErrUnknownKey) {
		return "", id, sigv4.ErrUnknownKey
	}
	return secret, id, err
}

// Close releases the stores. Call it after the HTTP server has drained.
func (s *Server) Close() error {
	s.ready.Store(false)
	var errs []error
	if s.blobs != nil {
		errs = append(errs, s.blobs.Close())
	}
	if s.registry != nil {
		errs = append(errs, s.registry.Close())
	}
	if s.logs != nil {
		errs = append(errs, s.logs.Close())
	}
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	return errors.Join(errs...)
}

// Handler returns the single HTTP handler for every protocol.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.route) }

// route dispatches a request by protocol:
//   - /healthz and /metrics: operational endpoints, no auth;
//   - POST /endpoints/{name}/invocations: sagemaker-runtime InvokeEndpoint;
//   - X-Amz-Target: AWS JSON 1.1 (SageMaker.*, WharfAdmin.*);
//   - /api/v1/registry/...: image SBOM and contract check (sbomapi), with
//     registry credentials or SigV4 for ecr;
//   - a SigV4 credential scope for s3 or sts (header or presigned query).
//
// Later: web UI.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	protocol, operation := "other", "Unknown"
	defer func() { s.metrics.observe(protocol, operation, rec.code(), start) }()

	switch r.URL.Path {
	case "/healthz":
		protocol, operation = "ops", "Health"
		if !s.ready.Load() {
			http.Error(rec, "not ready", http.StatusServiceUnavailable)
			return
		}
		rec.Write([]byte("ok\n"))
		return
	case "/metrics":
		protocol, operation = "ops", "Metrics"
		s.metrics.handler().ServeHTTP(rec, r)
		return
	}

	if isRegistryRequest(r) {
		protocol, operation = "registry", registryOperation(r)
		s.registry.ServeHTTP(rec, r)
		return
	}

	if sbomapi.Match(r) {
		protocol, operation = "rest", sbomapi.OperationName(r)
		(&sbomapi.Handler{Registry: s.registry, Scans: s.scans, Verifier: s.verifier, Logger: s.log}).ServeHTTP(rec, r)
		return
	}

	if name, ok := endpoint.InvocationsEndpoint(r.URL.Path); ok && r.Header.Get("X-Amz-Target") == "" {
		// sagemaker-runtime InvokeEndpoint: signed as "sagemaker" too.
		protocol, operation = "sagemaker-runtime", "InvokeEndpoint"
		id, err := s.verifier.Verify(r)
		if err != nil {
			e := s.jsonAuthError(err)
			endpoint.WriteError(rec, e.Status, e.Code, e.Message)
			return
		}
		s.endpoints.Invoke(rec, r, id.AccountID, name)
		return
	}

	if target := r.Header.Get("X-Amz-Target"); target != "" {
		var api *awsjson.Router
		switch {
		case strings.HasPrefix(target, "SageMaker."):
			protocol, api = "sagemaker", s.sagemakerAPI
		case strings.HasPrefix(target, admin.TargetPrefix):
			protocol, api = "admin", s.adminAPI
		case strings.HasPrefix(target, "Logs_20140328."):
			protocol, api = "logs", s.logsAPI
		case strings.HasPrefix(target, ecr.TargetPrefix):
			protocol, api = "ecr", s.ecrAPI
		default:
			protocol = "json"
			awsjson.WriteError(rec, awsjson.Errorf("UnknownOperationException", http.StatusBadRequest, "Unknown operation %s", target))
			return
		}
		if operation = api.OperationName(r); operation == "" {
			operation = "Unknown"
		}
		id, err := s.verifier.Verify(r)
		if err != nil {
			awsjson.WriteError(rec, s.jsonAuthError(err))
			return
		}
		ctx := awsapi.WithIdentity(r.Context(), id)
		if api == s.ecrAPI {
			ctx = ecr.WithEndpoint(ctx, r) // repository URIs name the host the client used
		}
		api.ServeHTTP(rec, r.WithContext(ctx))
		return
	}

	service, _, ok := sigv4.Scope(r)
	switch {
	case sigv4.IsPresignedV2(r):
		// Legacy S3 presigned URLs, still the AWS CLI v1 default for `s3 presign`.
		protocol, operation = "s3", s3api.OperationName(r)
		id, err := s.verifier.VerifyPresignedV2(r)
		if err != nil {
			s.s3AuthError(rec, r, err)
			return
		}
		s.s3.ServeHTTP(rec, r.WithContext(awsapi.WithIdentity(r.Context(), id)))
	case ok && service == "s3":
		protocol, operation = "s3", s3api.OperationName(r)
		id, err := s.verifier.Verify(r)
		if err != nil {
			s.s3AuthError(rec, r, err)
			return
		}
		s.s3.ServeHTTP(rec, r.WithContext(awsapi.WithIdentity(r.Context(), id)))
	case ok && service == "sts":
		protocol, operation = "sts", sts.OperationName(r)
		id, err := s.verifier.Verify(r)
		if err != nil {
			var ve *sigv4.Error
			if errors.As(err, &ve) {
				sts.WriteError(rec, awsapi.NewRequestID(), ve.QueryHTTPStatus(), ve.QueryCode(), ve.JSONMessage())
				return
			}
			s.log.Error("sts auth", "err", err)
			sts.WriteError(rec, awsapi.NewRequestID(), http.StatusInternalServerError, "InternalFailure", "internal error")
			return
		}
		s.sts.ServeHTTP(rec, r.WithContext(awsapi.WithIdentity(r.Context(), id)))
	default:
		// An unsigned request that is none of the above. S3 clients are the
		// ones that send those (anonymous reads), so answer in S3's shape.
		protocol = "s3"
		operation = s3api.OperationName(r)
		s.s3AuthError(rec, r, &sigv4.Error{Kind: sigv4.Missing, Message: "Anonymous access is not allowed; sign the request with an access key."})
	}
}

func (s *Server) jsonAuthError(err error) *awsjson.Error {
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		return awsjson.Errorf(ve.JSONCode(), ve.HTTPStatus(false), "%s", ve.JSONMessage())
	}
	s.log.Error("authenticate request", "err", err)
	return awsjson.Errorf("InternalFailure", http.StatusInternalServerError, "The request processing has failed because of an unknown error.")
}

func (s *Server) s3AuthError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		s3api.WriteError(w, r, ve.HTTPStatus(true), ve.S3Code(), ve.S3Message())
		return
	}
	s.log.Error("authenticate request", "err", err)
	s3api.WriteError(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
}

// loadOrCreateKey returns a 32-byte secret kept in path, creating it once.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// imageChecker backs CreateModel's image check: an image of the caller's
// Wharf registry repositories (pulled when a job starts) or one the engine
// already has.
type imageChecker struct {
	runtime  runtime.Runtime
	resolver imageResolver
}

func (ic *imageChecker) check(ctx context.Context, account, ref string) (string, error) {
	if ic.resolver.registry != nil {
		pinned, ours, err := ic.resolver.Pin(ctx, account, ref)
		if err != nil {
			return "", err
		}
		if ours {
			return pinned, nil
		}
	}
	_, err := ic.runtime.InspectImage(ctx, ref)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return "", errors.New("it is neither in Wharf's registry nor in the Docker Engine")
	}
	return ref, err
}
