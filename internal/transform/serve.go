package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/access"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/store"
)

// Serve starts serve containers (container-contract.md §3.1, §4.1): it is
// shared by the transform controller and the endpoint controller. Every
// error it returns is a FailureReason text ("ClientError: …" or
// "InternalServerError: …").
type Serve struct {
	Store   store.Store
	Blobs   blob.Store
	Runtime runtime.Runtime
	Images  ImageResolver
	// MaxModelBytes caps extracted model data per host.
	MaxModelBytes int64
}

func (c *Controller) serve() *Serve {
	return &Serve{Store: c.Store, Blobs: c.Blobs, Runtime: c.Runtime, Images: c.Images, MaxModelBytes: c.MaxModelBytes}
}

// PrepareImage makes image present in the engine (pulling it from Wharf's
// registry if it is one of ours) and returns its image id.
func (s *Serve) PrepareImage(ctx context.Context, account, image string) (string, error) {
	img, err := s.prepareImage(ctx, account, image)
	return img.ID, err
}

func (s *Serve) prepareImage(ctx context.Context, account, image string) (runtime.ImageInfo, error) {
	if s.Images != nil {
		ours, auth, err := s.Images.Resolve(ctx, account, image)
		if err != nil {
			return runtime.ImageInfo{}, fmt.Errorf("ClientError: %v", err)
		}
		if ours {
			if err := s.Runtime.PullImage(ctx, image, auth); err != nil {
				return runtime.ImageInfo{}, fmt.Errorf("ClientError: pulling %s from Wharf's registry: %v", image, err)
			}
		}
	}
	img, err := s.Runtime.InspectImage(ctx, image)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return img, fmt.Errorf("ClientError: image %s was not found: push it to Wharf's registry or load it into the Docker Engine", image)
	}
	if err != nil {
		return img, fmt.Errorf("InternalServerError: inspecting the image: %v", err)
	}
	return img, nil
}

// PrepareModelDir creates dir holding the extracted model archive url of
// account ("" = an empty directory). dir's parent must exist.
func (s *Serve) PrepareModelDir(ctx context.Context, account, url, dir string) error {
	if url == "" {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("InternalServerError: %v", err)
		}
		return nil
	}
	bucket, key, err := contract.ParseS3URI(url)
	if err != nil {
		return fmt.Errorf("ClientError: ModelDataUrl: %v", err)
	}
	src := &access.Objects{Store: s.Store, Blobs: s.Blobs, Account: account}
	rc, _, err := src.Open(ctx, bucket, key)
	if err != nil {
		return errors.New(clientError(err))
	}
	defer rc.Close()
	if err := contract.ExtractTarGz(ctx, rc, dir, s.MaxModelBytes); err != nil {
		if contract.IsClientError(err) {
			return fmt.Errorf("ClientError: model data %s: %v", url, err)
		}
		return fmt.Errorf("InternalServerError: extracting model data %s: %v", url, err)
	}
	return nil
}

// StartContainer starts spec as a serve container (Cmd serve, port
// spec.PublishPort, default 8080) and returns its id and base URL. On error
// the id may be set (the container exists and must be removed).
func (s *Serve) StartContainer(ctx context.Context, spec runtime.ContainerSpec) (id, url string, err error) {
	spec.Cmd = []string{"serve"}
	if spec.PublishPort == 0 {
		spec.PublishPort = 8080
	}
	id, err = s.Runtime.Start(ctx, spec)
	if err != nil {
		return "", "", fmt.Errorf("ClientError: starting the container: %v", err)
	}
	info, err := s.Runtime.Inspect(ctx, id)
	if err != nil {
		return id, "", fmt.Errorf("InternalServerError: inspecting the container: %v", err)
	}
	url, ok := ContainerURL(info, spec.PublishPort)
	if !ok {
		return id, "", fmt.Errorf("InternalServerError: the container's port %d is neither published nor reachable at an address", spec.PublishPort)
	}
	return id, url, nil
}

// ServePort is the port a container StartHost started serves on, from its
// labels (8080 for containers started before the label existed).
func ServePort(info runtime.ContainerInfo) int {
	if p, err := strconv.Atoi(info.Labels[LabelPort]); err == nil && p > 0 {
		return p
	}
	return 8080
}

// ContainerURL is the base URL of a serve container listening on port: its
// published port on 127.0.0.1, or on a HostAccess network (where nothing
// is published) its own address.
func ContainerURL(info runtime.ContainerInfo, port int) (string, bool) {
	switch {
	case info.HostPort > 0:
		return "http://127.0.0.1:" + strconv.Itoa(info.HostPort), true
	case info.IP != "":
		return "http://" + net.JoinHostPort(info.IP, strconv.Itoa(port)), true
	}
	return "", false
}

// NetworkSpec is the network of a job's or endpoint's serve containers:
// internal, so they cannot open connections anywhere (container-contract.md
// §5; the default egress policy is none for every serve container), and
// HostAccess, so that Wharf's gateway and batch driver reach them.
func NetworkSpec(name string, labels map[string]string) runtime.NetworkSpec {
	return runtime.NetworkSpec{Name: name, Labels: labels, Internal: true, HostAccess: true}
}

// Ping reports whether GET url/ping answers 200 within 2 s.
func Ping(ctx context.Context, url string) bool {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodGet, url+"/ping", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitHealthy polls GET /ping until it answers 200, the container exits or
// timeout passes. name names the host in errors. Polls start at 50 ms and
// back off to 1 s: most servers are up within a few hundred milliseconds
// and every job and endpoint start waits on this.
func (s *Serve) WaitHealthy(ctx context.Context, id, url, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if Ping(ctx, url) {
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("stopped")
		}
		if info, err := s.Runtime.Inspect(ctx, id); err == nil && !info.Running {
			return fmt.Errorf("ClientError: the serve container of %s exited with code %d before passing /ping health checks; see the logs", name, info.ExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClientError: the serve container of %s did not pass /ping health checks within %s", name, timeout)
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped")
		case <-time.After(wait):
		}
	}
}

// ---------------------------------------------------------------- pipelines

// A model is served as a pipeline of containers (container-contract.md §3):
// one for PrimaryContainer, one or more (up to 15) for Containers. Each host
// runs all of them side by side. In Serial mode an invocation goes through
// every container in order, each response becoming the next request; in
// Direct mode it goes to the one container the caller names. A model of one
// container is a pipeline of one: there is no separate path for it.

// Step is one container of a pipeline.
type Step struct {
	// Name identifies the container in errors, log streams and Direct
	// invocations: "primary" for a lone container, else its
	// ContainerHostname or, when the model names none, container-1,
	// container-2, ... by position.
	Name      string
	Container types.ContainerDefinition
	imageID   string
	port      int
}

// Pipeline is a model's containers in invocation order.
type Pipeline struct {
	Steps []Step
	// Direct: each invocation names the one container it goes to
	// (InferenceExecutionConfig.Mode Direct).
	Direct bool
}

// NewPipeline returns model's pipeline (images not prepared yet).
func NewPipeline(model *sm.DescribeModelOutput) (*Pipeline, error) {
	defs := model.Containers
	if model.PrimaryContainer != nil {
		defs = []types.ContainerDefinition{*model.PrimaryContainer}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("ClientError: model %s has no container", aws.ToString(model.ModelName))
	}
	p := &Pipeline{Direct: model.InferenceExecutionConfig != nil && model.InferenceExecutionConfig.Mode == types.InferenceExecutionModeDirect}
	for i, d := range defs {
		name := aws.ToString(d.ContainerHostname)
		switch {
		case len(defs) == 1 && !p.Direct:
			name = "primary"
		case name == "":
			name = "container-" + strconv.Itoa(i+1)
		}
		p.Steps = append(p.Steps, Step{Name: name, Container: d})
	}
	return p, nil
}

// Label of the images that serve on $SAGEMAKER_BIND_TO_PORT.
const bindToPortLabel = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"

// PrepareImages makes every step's image present (PrepareImage) and picks
// the port each container serves on: 8080, or for a container of a
// multi-container model whose image declares bindToPortLabel, 8080 plus its
// position, as the containers would have to on a shared instance.
func (s *Serve) PrepareImages(ctx context.Context, account string, p *Pipeline) error {
	infos := map[string]runtime.ImageInfo{}
	for i := range p.Steps {
		st := &p.Steps[i]
		ref := aws.ToString(st.Container.Image)
		info, ok := infos[ref]
		if !ok {
			var err error
			if info, err = s.prepareImage(ctx, account, ref); err != nil {
				return err
			}
			infos[ref] = info
		}
		st.imageID, st.port = info.ID, 8080
		if len(p.Steps) > 1 && info.Labels[bindToPortLabel] == "true" {
			st.port = 8080 + i
		}
	}
	return nil
}

// LabelContainer is the container label holding its 1-based position in its
// host's pipeline; a container without it (started before pipelines
// existed) is the first.
const LabelContainer = "wharf.container"

// LabelPort is the container label holding the port it serves on, so that
// a restarted server can reach it at its address without preparing images.
const LabelPort = "wharf.port"

// Container is one running container of a host.
type Container struct {
	Name    string // its Step's name
	ID, URL string
}

// StartHost starts one host: for each step in order it extracts the step's
// model data into dir/<position>/model and starts the container that
// spec(i) describes (StartHost sets its image, mount, port and, in
// multi-container models, SAGEMAKER_BIND_TO_PORT and
// SAGEMAKER_SAFE_PORT_RANGE). dir must not exist yet or be empty. On error
// it removes the containers it started and returns none.
func (s *Serve) StartHost(ctx context.Context, account string, p *Pipeline, dir string, spec func(i int) runtime.ContainerSpec) ([]*Container, error) {
	var cs []*Container
	fail := func(err error) ([]*Container, error) {
		rctx := context.WithoutCancel(ctx)
		for _, c := range cs {
			s.Runtime.Remove(rctx, c.ID)
		}
		return nil, err
	}
	for i, st := range p.Steps {
		modelDir := filepath.Join(dir, strconv.Itoa(i+1), "model")
		if err := os.MkdirAll(filepath.Dir(modelDir), 0o755); err != nil {
			return fail(fmt.Errorf("InternalServerError: %v", err))
		}
		if err := s.PrepareModelDir(ctx, account, aws.ToString(st.Container.ModelDataUrl), modelDir); err != nil {
			return fail(err)
		}
		cs2 := spec(i)
		cs2.Image, cs2.PublishPort = st.imageID, st.port
		cs2.Labels = maps.Clone(cs2.Labels)
		if cs2.Labels == nil {
			cs2.Labels = map[string]string{}
		}
		cs2.Labels[LabelContainer] = strconv.Itoa(i + 1)
		cs2.Labels[LabelPort] = strconv.Itoa(st.port)
		cs2.Mounts = append(cs2.Mounts, runtime.Mount{Source: modelDir, Target: "/opt/ml/model", ReadOnly: true})
		if len(p.Steps) > 1 {
			cs2.Env = maps.Clone(cs2.Env)
			if cs2.Env == nil {
				cs2.Env = map[string]string{}
			}
			// Each container has a network namespace of its own here, so
			// any free range will do.
			cs2.Env["SAGEMAKER_BIND_TO_PORT"] = strconv.Itoa(st.port)
			cs2.Env["SAGEMAKER_SAFE_PORT_RANGE"] = fmt.Sprintf("%d-%d", 20000+100*i, 20099+100*i)
		}
		id, url, err := s.StartContainer(ctx, cs2)
		if id != "" {
			cs = append(cs, &Container{Name: st.Name, ID: id, URL: url})
		}
		if err != nil {
			if len(p.Steps) > 1 {
				err = fmt.Errorf("%w (container %s)", err, st.Name)
			}
			return fail(err)
		}
	}
	return cs, nil
}

// ContainerSuffix is the container-name suffix of step k of host: the
// host's name for the first container (as for a lone one), host-c<k+1>
// after it.
func ContainerSuffix(host string, k int) string {
	if k == 0 {
		return host
	}
	return host + "-c" + strconv.Itoa(k+1)
}

// HostName names container c of a host called host in errors: the host
// itself for a lone container.
func HostName(host string, cs []*Container, c *Container) string {
	if len(cs) == 1 {
		return host
	}
	return host + "/" + c.Name
}

// HostStream is the log stream of container i of a host whose streams
// start with prefix: prefix-<id of the first container>, plus
// /<container name> in multi-container models.
func HostStream(prefix string, cs []*Container, i int) string {
	s := prefix + "-" + shortID(cs[0].ID)
	if len(cs) > 1 {
		s += "/" + cs[i].Name
	}
	return s
}

// WaitHostHealthy waits until every container of a host answers /ping
// (WaitHealthy, all at once); the error names each container that did not.
func (s *Serve) WaitHostHealthy(ctx context.Context, cs []*Container, host string, timeout time.Duration) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.WaitHealthy(ctx, c.ID, c.URL, HostName(host, cs, c), timeout)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PingAll reports whether every container answers /ping: a host is
// healthy only as a whole.
func PingAll(ctx context.Context, cs []*Container) bool {
	for _, c := range cs {
		if !Ping(ctx, c.URL) {
			return false
		}
	}
	return len(cs) > 0
}
