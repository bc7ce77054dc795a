// Package sbomapi serves what an image scan found about one registry image
// over plain REST, for browsers, curl and later the web UI:
//
//	GET /api/v1/registry/repositories/{repo...}/images/{digest}/sbom[?format=cyclonedx|spdx]
//	GET /api/v1/registry/repositories/{repo...}/images/{digest}/contract
//
// {digest} may also be a tag. The SBOM is CycloneDX 1.5 JSON by default or
// SPDX 2.3 JSON; the contract is the contract check stored with the scan.
//
// Callers authenticate as they do with the registry: HTTP Basic with an
// access key id and its secret, or user AWS with an ECR authorization token.
// Basic credentials are checked by the registry itself (a HEAD of the
// manifest with the caller's Authorization), so the two cannot drift apart
// and the registry's owner-only rule applies unchanged. A request signed
// with SigV4 for service "ecr" (header or presigned query) is accepted too.
//
// Errors are JSON {"code": ..., "message": ...}: 401 Unauthenticated (with
// a Basic challenge), 403 AccessDenied (another account's repository),
// 404 RepositoryNotFound / ImageNotFound / ScanNotFound (never scanned),
// 409 ScanInProgress (with Retry-After) / ScanFailed, 400 InvalidParameter.
package sbomapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/sigv4"
	"github.com/wharfml/wharf/internal/registry"
	"github.com/wharfml/wharf/internal/scan"
)

// Prefix is the path under which the API is served.
const Prefix = "/api/v1/registry/"

// SigningService is the SigV4 service name requests must be signed for.
const SigningService = "ecr"

// Registry is what the API needs of *registry.Registry.
type Registry interface {
	http.Handler // answers the delegated manifest HEAD for Basic credentials
	Repos() registry.RepoStore
	ResolveTag(ctx context.Context, repo, tag string) (string, error)
	Manifest(ctx context.Context, repo, dgst string) (registry.Image, []byte, error)
}

// Scans returns stored scan results (*scan.Service).
type Scans interface {
	Get(ctx context.Context, account, repo, digest string) (scan.Result, bool, error)
}

// Verifier checks SigV4 signatures (*sigv4.Verifier).
type Verifier interface {
	Verify(r *http.Request) (awsapi.Identity, error)
}

// Handler serves the API. The zero Verifier refuses SigV4 requests.
type Handler struct {
	Registry Registry
	Scans    Scans
	Verifier Verifier
	Logger   *slog.Logger
}

// Match reports whether r belongs to this API. A request under Prefix
// signed for another service is S3 (a bucket named "api") or STS, not us.
func Match(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, Prefix) || r.Header.Get("X-Amz-Target") != "" || sigv4.IsPresignedV2(r) {
		return false
	}
	if service, _, ok := sigv4.Scope(r); ok && service != SigningService {
		return false
	}
	return true
}

// OperationName names a request for metrics.
func OperationName(r *http.Request) string {
	switch {
	case strings.HasSuffix(r.URL.Path, "/sbom"):
		return "GetImageSBOM"
	case strings.HasSuffix(r.URL.Path, "/contract"):
		return "GetImageContract"
	}
	return "Unknown"
}

// apiError is an error response.
type apiError struct {
	status    int
	challenge string // WWW-Authenticate of a 401
	Code      string `json:"code"`
	Message   string `json:"message"`
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(e)
	writeJSON(w, e.status, "application/json", append(b, '\n'))
}

// request is a parsed API path.
type request struct {
	repo     string
	ref      string // digest or tag
	resource string // "sbom" or "contract"
}

// parsePath splits repositories/{repo...}/images/{ref}/{resource}, reading
// from the right: repository names may contain "images" themselves.
func parsePath(p string) (request, *apiError) {
	rest, ok := strings.CutPrefix(p, Prefix+"repositories/")
	segs := strings.Split(rest, "/")
	n := len(segs)
	if !ok || n < 4 || segs[n-3] != "images" || (segs[n-1] != "sbom" && segs[n-1] != "contract") {
		return request{}, errorf(http.StatusNotFound, "NotFound",
			"no such API path; use %srepositories/{repository}/images/{digest}/sbom or .../contract", Prefix)
	}
	req := request{repo: strings.Join(segs[:n-3], "/"), ref: segs[n-2], resource: segs[n-1]}
	if !registry.ValidRepositoryName(req.repo) {
		return req, errorf(http.StatusBadRequest, "InvalidParameter", "invalid repository name %q", req.repo)
	}
	if strings.Contains(req.ref, ":") {
		if _, err := digest.Parse(req.ref); err != nil {
			return req, errorf(http.StatusBadRequest, "InvalidParameter", "invalid image digest %q", req.ref)
		}
	} else if !validTag(req.ref) {
		return req, errorf(http.StatusBadRequest, "InvalidParameter", "invalid image digest or tag %q", req.ref)
	}
	return req, nil
}

// validTag is the distribution spec's tag grammar.
func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := h.serve(w, r); e != nil {
		if e.status == http.StatusUnauthorized {
			c := e.challenge
			if c == "" {
				c = `Basic realm="` + registry.DefaultRealm + `"`
			}
			w.Header().Set("WWW-Authenticate", c)
		}
		writeError(w, e)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not supported; use GET", r.Method)
	}
	req, perr := parsePath(r.URL.Path)
	if perr != nil && perr.status == http.StatusNotFound {
		return perr // not an API path: nothing to authenticate for
	}
	account, dgst, e := h.authorize(w, r, req, perr)
	if e != nil {
		return e
	}
	format := strings.ToLower(r.URL.Query().Get("format"))
	if req.resource == "sbom" && format != "" && format != "cyclonedx" && format != "spdx" {
		return errorf(http.StatusBadRequest, "InvalidParameter", "format must be cyclonedx (the default) or spdx, not %q", format)
	}

	res, found, err := h.Scans.Get(r.Context(), account, req.repo, dgst)
	if err != nil {
		return h.internal(r, "read scan result", err)
	}
	switch {
	case !found:
		return errorf(http.StatusNotFound, "ScanNotFound",
			"image %s in repository %s has not been scanned; start a scan with `aws ecr start-image-scan` or push to a repository with scan on push", dgst, req.repo)
	case res.Status == scan.StatusInProgress:
		w.Header().Set("Retry-After", "5")
		return errorf(http.StatusConflict, "ScanInProgress", "the scan of image %s is in progress; try again shortly", dgst)
	case res.Status != scan.StatusComplete:
		return errorf(http.StatusConflict, "ScanFailed", "the scan of image %s did not complete: %s", dgst, res.Description)
	}

	if req.resource == "contract" {
		if res.Contract == nil {
			return errorf(http.StatusNotFound, "ContractNotFound",
				"the scan of image %s predates contract checks; start a new scan with `aws ecr start-image-scan`", dgst)
		}
		b, err := json.MarshalIndent(struct {
			Repository      string    `json:"repository"`
			ImageDigest     string    `json:"imageDigest"`
			ScanCompletedAt time.Time `json:"scanCompletedAt"`
			*scan.Contract
		}{req.repo, dgst, res.CompletedAt, res.Contract}, "", "  ")
		if err != nil {
			return h.internal(r, "encode contract", err)
		}
		writeJSON(w, http.StatusOK, "application/json", append(b, '\n'))
		return nil
	}

	if res.SBOM == nil {
		return h.internal(r, "complete scan without an SBOM", errors.New("no SBOM stored"))
	}
	sub := scan.Subject{Registry: r.Host, Repository: req.repo, Digest: dgst, Created: res.CompletedAt}
	var body []byte
	contentType := scan.CycloneDXMediaType
	if format == "spdx" {
		body, err = res.SBOM.SPDX(sub)
		contentType = scan.SPDXMediaType
	} else {
		body, err = res.SBOM.CycloneDXFor(sub)
	}
	if err != nil {
		return h.internal(r, "encode SBOM", err)
	}
	writeJSON(w, http.StatusOK, contentType, append(body, '\n'))
	return nil
}

// authorize authenticates the caller and checks that it owns the
// repository, returning the owner's account and the image's digest. A
// path error (perr) is reported only to an authenticated caller.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, req request, perr *apiError) (account, dgst string, e *apiError) {
	ctx := r.Context()
	if _, _, signed := sigv4.Scope(r); signed || strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") {
		if h.Verifier == nil {
			return "", "", errorf(http.StatusUnauthorized, "Unauthenticated", "SigV4 is not enabled here; use HTTP Basic with an access key id and secret")
		}
		id, err := h.Verifier.Verify(r)
		if err != nil {
			var ve *sigv4.Error
			if errors.As(err, &ve) {
				// REST statuses (403 for a bad signature or key, 400 for a
				// malformed request), with the JSON protocols' codes.
				return "", "", errorf(ve.HTTPStatus(true), ve.JSONCode(), "%s", ve.JSONMessage())
			}
			return "", "", h.internal(r, "verify signature", err)
		}
		if perr != nil {
			return "", "", perr
		}
		repo, err := h.Registry.Repos().GetRepository(ctx, req.repo)
		if errors.Is(err, registry.ErrRepositoryNotFound) {
			return "", "", repoNotFound(req.repo)
		}
		if err != nil {
			return "", "", h.internal(r, "look up repository", err)
		}
		if repo.AccountID != id.AccountID {
			return "", "", accessDenied(req.repo)
		}
		if dgst, e = h.resolve(ctx, r, req); e != nil {
			return "", "", e
		}
		return repo.AccountID, dgst, nil
	}

	// Basic (or no) credentials: the registry decides, on a manifest HEAD.
	if perr != nil {
		// Still authenticate first, against the registry's base route.
		if rec := h.delegate(r, "/v2/"); rec.status == http.StatusUnauthorized {
			return "", "", challenge(rec)
		}
		return "", "", perr
	}
	rec := h.delegate(r, "/v2/"+req.repo+"/manifests/"+req.ref)
	switch rec.status {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return "", "", challenge(rec)
	case http.StatusForbidden:
		return "", "", accessDenied(req.repo)
	case http.StatusNotFound:
		if _, err := h.Registry.Repos().GetRepository(ctx, req.repo); errors.Is(err, registry.ErrRepositoryNotFound) {
			return "", "", repoNotFound(req.repo)
		}
		return "", "", imageNotFound(req)
	default:
		return "", "", h.internal(r, "registry check", fmt.Errorf("manifest HEAD answered %d: %s", rec.status, rec.body.String()))
	}
	repo, err := h.Registry.Repos().GetRepository(ctx, req.repo)
	if err != nil {
		return "", "", h.internal(r, "look up repository", err)
	}
	dgst = rec.header.Get("Docker-Content-Digest")
	if strings.Contains(req.ref, ":") {
		dgst = req.ref
	}
	if dgst == "" {
		return "", "", h.internal(r, "registry check", errors.New("no Docker-Content-Digest in the manifest HEAD"))
	}
	return repo.AccountID, dgst, nil
}

// resolve turns a tag into a digest and checks the image exists.
func (h *Handler) resolve(ctx context.Context, r *http.Request, req request) (string, *apiError) {
	dgst := req.ref
	var err error
	if !strings.Contains(req.ref, ":") {
		dgst, err = h.Registry.ResolveTag(ctx, req.repo, req.ref)
	} else {
		_, _, err = h.Registry.Manifest(ctx, req.repo, req.ref)
	}
	if errors.Is(err, registry.ErrImageNotFound) {
		return "", imageNotFound(req)
	}
	if err != nil {
		return "", h.internal(r, "resolve image", err)
	}
	return dgst, nil
}

// manifestAccept lists every manifest type, so the registry answers for
// OCI and Docker manifests and indexes alike.
const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

// delegate sends a HEAD for path to the registry with the caller's
// Authorization and returns the registry's response.
func (h *Handler) delegate(r *http.Request, path string) *recorder {
	rec := &recorder{header: http.Header{}}
	sub, err := http.NewRequestWithContext(r.Context(), http.MethodHead, path, nil)
	if err != nil {
		rec.status = http.StatusBadRequest
		return rec
	}
	sub.Host = r.Host
	sub.RemoteAddr = r.RemoteAddr
	if a := r.Header.Get("Authorization"); a != "" {
		sub.Header.Set("Authorization", a)
	}
	sub.Header.Set("Accept", manifestAccept)
	h.Registry.ServeHTTP(rec, sub)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec
}

// recorder keeps a delegated response: status, headers and the start of
// an error body (distribution writes one even for HEAD).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) WriteHeader(code int) {
	if rc.status == 0 {
		rc.status = code
	}
}
func (rc *recorder) Write(b []byte) (int, error) {
	rc.WriteHeader(http.StatusOK)
	if room := 4096 - rc.body.Len(); room > 0 {
		rc.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// challenge answers 401 with the registry's challenge and its reason
// (distribution's error body: {"errors": [{"code", "message"}]}).
func challenge(rec *recorder) *apiError {
	msg := "authentication required: HTTP Basic with an access key id and secret, or user AWS and an ECR authorization token"
	var body struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if json.Unmarshal(rec.body.Bytes(), &body) == nil && len(body.Errors) > 0 && body.Errors[0].Message != "" {
		msg = body.Errors[0].Message
	}
	e := errorf(http.StatusUnauthorized, "Unauthenticated", "%s", msg)
	e.challenge = rec.header.Get("WWW-Authenticate")
	return e
}

func accessDenied(repo string) *apiError {
	return errorf(http.StatusForbidden, "AccessDenied", "repository %s belongs to another account", repo)
}

func repoNotFound(repo string) *apiError {
	return errorf(http.StatusNotFound, "RepositoryNotFound", "repository %s does not exist", repo)
}

func imageNotFound(req request) *apiError {
	return errorf(http.StatusNotFound, "ImageNotFound", "image %s does not exist in repository %s", req.ref, req.repo)
}

func (h *Handler) internal(r *http.Request, what string, err error) *apiError {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(r.Context(), "sbomapi: "+what, "path", r.URL.Path, "err", err)
	return errorf(http.StatusInternalServerError, "InternalError", "the request failed on the server; try again")
}
