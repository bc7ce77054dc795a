// Package endpoint runs SageMaker real-time endpoints on a container
// runtime (container-contract.md §3) and serves InvokeEndpoint (gateway.go).
//
// The Controller reconciles from the metadata store: every endpoint that is
// Creating, InService, OutOfService or Deleting and that no goroutine owns
// gets one. It starts InitialInstanceCount serve containers per production
// variant (adopting labelled containers that still run and answer /ping,
// which is how an InService endpoint survives a server restart), waits until
// all answer /ping, publishes the fleet to the gateway and marks the
// endpoint InService; if a host is not healthy within the health timeout the
// endpoint is Failed with a FailureReason and its containers removed. While
// InService it pings every host every 5 s and replaces a container that
// exited or failed 3 checks in a row. DeleteEndpoint (status Deleting)
// unpublishes the fleet, stops and removes the containers, then deletes the
// endpoint.
//
// A host runs every container of its variant's model (a serial inference
// pipeline or a Direct-mode multi-container model; one container is a
// pipeline of one) side by side on the endpoint's network. It is healthy,
// adopted after a restart, replaced and stopped only as a whole: one dead
// container gets all of its host's containers replaced.
//
// Shutdown leaves the containers running so the next start adopts them.
// Networking is as in package transform: an internal network per endpoint
// that only Wharf reaches into.
//
// UpdateEndpoint (status Updating with a pending config) is blue/green, all
// at once: the goroutine that supervises the endpoint starts the new
// config's fleet (the next generation: its container names and host labels
// carry "-g<n>") beside the serving one, waits until every new host answers
// /ping, swaps the gateway's fleet, drains the old hosts (the gateway never
// sends a request to a retired fleet; requests in flight finish) and stops
// them. If the new fleet does not become healthy it is removed and the
// endpoint stays InService on the old config with a FailureReason.
// UpdateEndpointWeightsAndCapacities (Updating without a pending config)
// sets weights at once and starts or drains and stops hosts.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/logs"
	"github.com/wharfml/wharf/internal/reconcile"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/sagemaker"
	"github.com/wharfml/wharf/internal/store"
	"github.com/wharfml/wharf/internal/transform"
)

// ResourceType is the store type of endpoints.
const ResourceType = sagemaker.TypeEndpoint

// LogGroupPrefix + endpoint name is the log group of an endpoint's containers.
const LogGroupPrefix = "/aws/sagemaker/Endpoints/"

// Controller runs endpoints and routes invocations to them.
type Controller struct {
	Store   store.Store
	Blobs   blob.Store
	Runtime runtime.Runtime
	Logs    *logs.Store
	Catalog *instances.Catalog
	Images  transform.ImageResolver
	// WorkDir holds each endpoint's extracted model data.
	WorkDir string
	Region  string
	// StopGrace is the time between SIGTERM and SIGKILL (default 30 s).
	StopGrace time.Duration
	// HealthTimeout bounds the wait for a host's first healthy /ping when the
	// variant leaves ContainerStartupHealthCheckTimeoutInSeconds unset
	// (default 240 s).
	HealthTimeout time.Duration
	// MaxModelBytes caps extracted model data per host (default 30 GiB).
	MaxModelBytes int64
	// Poll is how often running endpoints look for DeleteEndpoint.
	Poll   time.Duration
	Logger *slog.Logger
	// Metrics, if set, receives per-endpoint invocation metrics.
	Metrics *Metrics
	// MaxInFlightPerHost caps the requests in flight to one host (default
	// 64); beyond it requests queue briefly, then get ModelNotReadyException.
	MaxInFlightPerHost int

	wake    reconcile.Waker
	workers reconcile.Workers // one goroutine per endpoint
	mu      sync.Mutex        // guards fleets
	fleets  map[string]*fleet // InService endpoints by fleetKey
}

// fleet is a deployed endpoint's containers.
type fleet struct {
	account, name, arn string
	workDir            string
	network            string
	variants           []*variant
	followers          *sync.WaitGroup
	// gen is the fleet's generation (sagemaker.EndpointDoc.Generation).
	gen int
	// retired is set once the gateway routes to a newer fleet: a request
	// that picked a host of a retired fleet gives it back and looks again.
	retired atomic.Bool
}

type variant struct {
	name   string
	weight atomic.Uint64 // float64 bits
	// direct: the model is in Direct mode, so each invocation names the
	// container it goes to instead of passing through all of them.
	direct bool
	mu     sync.Mutex
	hosts  []*host
	// freed wakes one request waiting for a host below the in-flight cap.
	freed       chan struct{}
	metricsOnce sync.Once
	vm          *variantMetrics
}

func newVariant(name string, weight float64) *variant {
	v := &variant{name: name, freed: make(chan struct{}, 1)}
	v.setWeight(weight)
	return v
}

// newVariants returns the variants of cfg deployed with models.
func newVariants(cfg *sm.DescribeEndpointConfigOutput, models map[string]*sm.DescribeModelOutput) []*variant {
	var vs []*variant
	for _, pv := range cfg.ProductionVariants {
		v := newVariant(aws.ToString(pv.VariantName), float64(aws.ToFloat32(pv.InitialVariantWeight)))
		if m := models[v.name]; m != nil && m.InferenceExecutionConfig != nil {
			v.direct = m.InferenceExecutionConfig.Mode == types.InferenceExecutionModeDirect
		}
		vs = append(vs, v)
	}
	return vs
}

func (v *variant) setWeight(w float64) { v.weight.Store(math.Float64bits(w)) }
func (v *variant) getWeight() float64  { return math.Float64frombits(v.weight.Load()) }

// host is one instance: the serve containers of its variant's model.
type host struct {
	variant *variant
	name    string
	label   string        // runtime.LabelHost: name plus the fleet generation
	timeout time.Duration // startup health-check timeout
	// containers are in pipeline order; streams[i] is the log stream of
	// containers[i]. Both are set before the host serves and never change.
	containers []*transform.Container
	streams    []string
	client     *http.Client
	inflight   atomic.Int64
	fails      int
}

// New prepares a controller; call Run to start it.
func (c *Controller) New() *Controller { c.init(); return c }

func (c *Controller) init() {
	if c.wake == nil {
		c.wake = reconcile.NewWaker()
		c.fleets = map[string]*fleet{}
	}
	if c.StopGrace == 0 {
		c.StopGrace = 30 * time.Second
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = sagemaker.DefaultHealthCheckTimeoutSec * time.Second
	}
	if c.MaxModelBytes == 0 {
		c.MaxModelBytes = 30 << 30
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Notify asks the controller to look at the store now.
func (c *Controller) Notify() { c.wake.Notify() }

// Run reconciles until ctx ends, then waits for endpoint goroutines.
func (c *Controller) Run(ctx context.Context) {
	c.init()
	reconcile.Loop(ctx, c.wake, 2*time.Second, c.Logger, "endpoint", c.reconcile)
	c.workers.Wait()
}

func (c *Controller) reconcile(ctx context.Context) error {
	rs, err := c.Store.ListResources(ctx, store.ResourceQuery{
		Type: ResourceType,
		Statuses: []string{string(types.EndpointStatusCreating), string(types.EndpointStatusInService),
			string(types.EndpointStatusOutOfService), string(types.EndpointStatusDeleting),
			string(types.EndpointStatusUpdating)},
		SortBy: store.SortByCreationTime,
	})
	if err != nil {
		return err
	}
	for _, r := range rs {
		c.workers.Start(r.ARN, func() { c.run(ctx, r) })
	}
	return nil
}

func fleetKey(account, name string) string { return account + "/" + strings.ToLower(name) }

func (c *Controller) labels(account, name string) map[string]string {
	return map[string]string{
		runtime.LabelKind:     ResourceType,
		runtime.LabelAccount:  account,
		runtime.LabelResource: strings.ToLower(name),
	}
}

// newHost names the n-th host of v in fleet f.
func newHost(f *fleet, v *variant, n int) *host {
	h := &host{variant: v, name: strings.ToLower(v.name) + "-" + strconv.Itoa(n)}
	h.label = hostLabel(f.gen, h.name)
	return h
}

func hostLabel(gen int, name string) string {
	if gen == 0 {
		return name
	}
	return name + "-g" + strconv.Itoa(gen)
}

func containerName(f *fleet, suffix string) string {
	return "wharf-endpoint-" + f.account + "-" + strings.ToLower(f.name) + "-" + suffix
}

// load reads an endpoint's current document.
func (c *Controller) load(ctx context.Context, account, name string) (store.Resource, *sagemaker.EndpointDoc, error) {
	r, doc, err := reconcile.Load[sagemaker.EndpointDoc](ctx, c.Store, account, ResourceType, name)
	if err == nil {
		err = complete(doc)
	}
	return r, doc, err
}

// complete rejects a stored document that lacks the endpoint or its config.
func complete(doc *sagemaker.EndpointDoc) error {
	if doc.Endpoint == nil || doc.Config == nil {
		return fmt.Errorf("endpoint document is incomplete")
	}
	return nil
}

// mutate applies fn to the endpoint's latest document and stores it,
// retrying on concurrent changes. fn returns false to skip the write.
func (c *Controller) mutate(ctx context.Context, account, name string, fn func(e *sm.DescribeEndpointOutput, now time.Time) bool) error {
	return c.mutateDoc(ctx, account, name, func(doc *sagemaker.EndpointDoc, now time.Time) bool { return fn(doc.Endpoint, now) })
}

// mutateDoc is mutate with the whole stored document.
func (c *Controller) mutateDoc(ctx context.Context, account, name string, fn func(doc *sagemaker.EndpointDoc, now time.Time) bool) error {
	_, err := reconcile.Mutate(ctx, c.Store, account, ResourceType, name, complete,
		func(d *sagemaker.EndpointDoc) string { return string(d.Endpoint.EndpointStatus) },
		func(doc *sagemaker.EndpointDoc, now time.Time) bool {
			if !fn(doc, now) {
				return false
			}
			doc.Endpoint.LastModifiedTime = aws.Time(now)
			return true
		})
	return err
}

// run drives one endpoint until it is gone, Failed, or the server stops.
func (c *Controller) run(ctx context.Context, r store.Resource) {
	_, doc, err := c.load(ctx, r.Account, r.Name)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.Logger.Error("endpoint: load", "endpoint", r.Name, "err", err)
		}
		return
	}
	f := &fleet{account: r.Account, name: aws.ToString(doc.Endpoint.EndpointName), arn: r.ARN,
		workDir: filepath.Join(c.WorkDir, r.Account+"-"+strings.ToLower(r.Name)), followers: &sync.WaitGroup{}, gen: doc.Generation}
	if doc.Endpoint.EndpointStatus == types.EndpointStatusDeleting {
		c.teardown(ctx, f)
		return
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.variants = newVariants(doc.Config, doc.Models)
	if s := doc.Endpoint.EndpointStatus; s == types.EndpointStatusInService || s == types.EndpointStatusOutOfService || s == types.EndpointStatusUpdating {
		// Restarted: serve with each host as soon as it is adopted or healthy.
		c.publish(f)
	}
	if err := c.deploy(fctx, f, doc); err != nil {
		if ctx.Err() != nil {
			return // shutting down: the next start adopts or restarts the containers
		}
		c.unpublish(f)
		cancel()
		f.followers.Wait()
		c.removeLeftovers(ctx, f)
		if c.stillDeleting(ctx, f) {
			c.teardown(ctx, f)
			return
		}
		c.mutate(ctx, f.account, f.name, func(e *sm.DescribeEndpointOutput, now time.Time) bool {
			if e.EndpointStatus == types.EndpointStatusDeleting {
				return false
			}
			e.EndpointStatus = types.EndpointStatusFailed
			e.FailureReason = aws.String(contract.TruncateReason(err.Error()))
			for i := range e.ProductionVariants {
				e.ProductionVariants[i].CurrentInstanceCount = aws.Int32(0)
				e.ProductionVariants[i].VariantStatus = nil
			}
			return true
		})
		c.Notify() // a Deleting set meanwhile is picked up next round
		return
	}
	err = c.mutateDoc(ctx, f.account, f.name, func(doc *sagemaker.EndpointDoc, now time.Time) bool {
		e := doc.Endpoint
		if e.EndpointStatus == types.EndpointStatusDeleting {
			return false
		}
		if e.EndpointStatus == types.EndpointStatusUpdating {
			// A restart interrupted an update: stay on the deployed config.
			e.FailureReason = aws.String("The update was interrupted by a server restart; the endpoint stays on its previous configuration.")
			doc.Pending, e.PendingDeploymentSummary = nil, nil
			for i := range e.ProductionVariants {
				for _, pv := range doc.Config.ProductionVariants {
					if aws.ToString(pv.VariantName) == aws.ToString(e.ProductionVariants[i].VariantName) {
						e.ProductionVariants[i].DesiredInstanceCount = pv.InitialInstanceCount
						e.ProductionVariants[i].DesiredWeight = pv.InitialVariantWeight
					}
				}
			}
		} else {
			e.FailureReason = nil
		}
		e.EndpointStatus = types.EndpointStatusInService
		for i := range e.ProductionVariants {
			pv := &e.ProductionVariants[i]
			pv.CurrentInstanceCount = pv.DesiredInstanceCount
			pv.CurrentWeight = pv.DesiredWeight
			pv.VariantStatus = nil
		}
		return true
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("endpoint: update status", "endpoint", f.name, "err", err)
	}
	c.publish(f)
	f = c.supervise(fctx, f)
	c.unpublish(f)
	if ctx.Err() != nil {
		return
	}
	cancel()
	f.followers.Wait()
	c.teardown(ctx, f)
}

// publish makes the gateway route to f's healthy hosts.
func (c *Controller) publish(f *fleet) {
	c.mu.Lock()
	c.fleets[fleetKey(f.account, f.name)] = f
	c.mu.Unlock()
}

func (c *Controller) unpublish(f *fleet) {
	c.mu.Lock()
	if c.fleets[fleetKey(f.account, f.name)] == f {
		delete(c.fleets, fleetKey(f.account, f.name))
	}
	c.mu.Unlock()
}

func (c *Controller) stillDeleting(ctx context.Context, f *fleet) bool {
	_, doc, err := c.load(ctx, f.account, f.name)
	return errors.Is(err, store.ErrNotFound) || (err == nil && doc.Endpoint.EndpointStatus == types.EndpointStatusDeleting)
}

// deploy brings every variant's hosts up (adopting running, healthy
// containers) and waits until all answer /ping. A variant's hosts list
// holds only healthy hosts: each joins it once it answers /ping.
func (c *Controller) deploy(ctx context.Context, f *fleet, doc *sagemaker.EndpointDoc) error {
	sv := c.serve()
	labels := c.labels(f.account, f.name)
	// Running containers by host label, then position in the host's pipeline.
	existing := map[string]map[int]runtime.ContainerInfo{}
	if cs, err := c.Runtime.List(ctx, labels); err == nil {
		for _, ci := range cs {
			l := ci.Labels[runtime.LabelHost]
			if existing[l] == nil {
				existing[l] = map[int]runtime.ContainerInfo{}
			}
			existing[l][position(ci)] = ci
		}
	}
	if nets, err := c.Runtime.ListNetworks(ctx, labels); err == nil && len(nets) > 0 {
		f.network = nets[0]
	} else {
		id, err := c.Runtime.CreateNetwork(ctx, transform.NetworkSpec(containerName(f, "net"), labels))
		if err != nil {
			return fmt.Errorf("InternalServerError: creating the endpoint network: %v", err)
		}
		f.network = id
	}
	var waits []*host
	used := map[string]bool{}
	for vi, pv := range doc.Config.ProductionVariants {
		v := f.variants[vi]
		p, err := pipelineOf(doc, pv)
		if err != nil {
			return err
		}
		prepared := false
		for i := 1; i <= int(aws.ToInt32(pv.InitialInstanceCount)); i++ {
			h := newHost(f, v, i)
			used[h.label] = true
			if found := existing[h.label]; len(found) > 0 {
				if c.adopt(ctx, f, h, p, found) {
					v.addHost(h)
					continue
				}
				for _, ci := range found {
					c.Runtime.Remove(ctx, ci.ID)
				}
			}
			if !prepared {
				if err := sv.PrepareImages(ctx, f.account, p); err != nil {
					return err
				}
				prepared = true
			}
			if err := c.startHost(ctx, sv, f, p, pv, h); err != nil {
				return err
			}
			h.timeout = c.healthTimeout(pv)
			waits = append(waits, h)
		}
	}
	for l, found := range existing {
		if !used[l] {
			for _, ci := range found {
				c.Runtime.Remove(ctx, ci.ID)
			}
		}
	}
	return c.waitHealthy(ctx, sv, waits)
}

// position returns a container's 1-based place in its host's pipeline.
func position(ci runtime.ContainerInfo) int {
	if n, err := strconv.Atoi(ci.Labels[transform.LabelContainer]); err == nil && n > 0 {
		return n
	}
	return 1
}

// adopt makes h of the containers a previous server process left running
// (found, by position) if they are exactly p's containers and all answer /ping.
func (c *Controller) adopt(ctx context.Context, f *fleet, h *host, p *transform.Pipeline, found map[int]runtime.ContainerInfo) bool {
	if len(found) != len(p.Steps) {
		return false
	}
	var cs []*transform.Container
	for i, st := range p.Steps {
		ci, ok := found[i+1]
		if !ok || !ci.Running {
			return false
		}
		url, ok := transform.ContainerURL(ci, transform.ServePort(ci))
		if !ok {
			return false
		}
		cs = append(cs, &transform.Container{Name: st.Name, ID: ci.ID, URL: url})
	}
	if !transform.PingAll(ctx, cs) {
		return false
	}
	h.containers, h.client = cs, newClient()
	c.follow(ctx, f, h, time.Now())
	return true
}

// pipelineOf returns the pipeline of variant pv's model (images not prepared).
func pipelineOf(doc *sagemaker.EndpointDoc, pv types.ProductionVariant) (*transform.Pipeline, error) {
	model := doc.Models[aws.ToString(pv.VariantName)]
	if model == nil {
		return nil, fmt.Errorf("ClientError: variant %s has no model", aws.ToString(pv.VariantName))
	}
	return transform.NewPipeline(model)
}

// preparedPipeline is pipelineOf with the images prepared.
func (c *Controller) preparedPipeline(ctx context.Context, sv *transform.Serve, f *fleet, doc *sagemaker.EndpointDoc, pv types.ProductionVariant) (*transform.Pipeline, error) {
	p, err := pipelineOf(doc, pv)
	if err == nil {
		err = sv.PrepareImages(ctx, f.account, p)
	}
	return p, err
}

// startHost starts h's containers, one per step of p (images prepared),
// for variant pv.
func (c *Controller) startHost(ctx context.Context, sv *transform.Serve, f *fleet, p *transform.Pipeline, pv types.ProductionVariant, h *host) error {
	it, err := c.Catalog.Lookup(string(pv.InstanceType))
	if err != nil {
		return fmt.Errorf("ClientError: %v", err)
	}
	limits := c.Catalog.Limits(it)
	dir := filepath.Join(f.workDir, h.label)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("InternalServerError: %v", err)
	}
	cs, err := sv.StartHost(ctx, f.account, p, dir, func(k int) runtime.ContainerSpec {
		st := p.Steps[k]
		labels := c.labels(f.account, f.name)
		labels[runtime.LabelHost] = h.label
		hostname := h.name
		if hn := aws.ToString(st.Container.ContainerHostname); hn != "" {
			hostname = hn
		}
		return runtime.ContainerSpec{
			Name: containerName(f, transform.ContainerSuffix(h.label, k)), Env: st.Container.Environment, Labels: labels,
			Hostname: hostname, Network: f.network,
			NanoCPUs: limits.NanoCPUs, MemoryBytes: limits.MemoryBytes, PidsLimit: 4096,
		}
	})
	if err != nil {
		return err
	}
	h.containers, h.client = cs, newClient()
	c.follow(ctx, f, h, time.Time{})
	return nil
}

// newClient is a host's keep-alive connection pool.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// follow copies the output of h's containers (lines from since on) into
// the endpoint's log group, one stream per container.
func (c *Controller) follow(ctx context.Context, f *fleet, h *host, since time.Time) {
	h.streams = make([]string, len(h.containers))
	for i, ct := range h.containers {
		id := ct.ID
		stream := transform.HostStream(h.variant.name+"/"+h.name, h.containers, i)
		h.streams[i] = stream
		f.followers.Add(1)
		go func() {
			defer f.followers.Done()
			w, err := c.Logs.Stream(ctx, f.account, LogGroupPrefix+f.name, stream)
			if err != nil {
				if ctx.Err() == nil {
					c.Logger.Error("endpoint: open log stream", "endpoint", f.name, "err", err)
				}
				return
			}
			defer w.Close()
			err = c.Runtime.Logs(ctx, id, true, func(l runtime.LogLine) error {
				if l.Time.Before(since) {
					return nil
				}
				return w.Write(ctx, l.Time, l.Text)
			})
			if err != nil && ctx.Err() == nil && !errors.Is(err, runtime.ErrContainerNotFound) {
				c.Logger.Warn("endpoint: follow logs", "endpoint", f.name, "err", err)
			}
		}()
	}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// supervise watches an InService fleet, applying updates, until the
// endpoint is being deleted (or gone) or ctx ends; it returns the fleet
// serving last.
func (c *Controller) supervise(ctx context.Context, f *fleet) *fleet {
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	lastCheck := time.Now()
	for {
		select {
		case <-ctx.Done():
			return f
		case <-tick.C:
		}
		_, doc, err := c.load(ctx, f.account, f.name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && doc.Endpoint.EndpointStatus == types.EndpointStatusDeleting) {
			return f
		}
		if err == nil && doc.Endpoint.EndpointStatus == types.EndpointStatusUpdating {
			if doc.Pending != nil {
				f = c.update(ctx, f, doc)
			} else {
				c.scale(ctx, f, doc)
			}
			continue
		}
		if time.Since(lastCheck) < 5*time.Second {
			continue
		}
		lastCheck = time.Now()
		for _, v := range f.variants {
			v.mu.Lock()
			hosts := append([]*host(nil), v.hosts...)
			v.mu.Unlock()
			for _, h := range hosts {
				c.check(ctx, f, h)
			}
		}
		if err == nil {
			c.heal(ctx, f, doc)
		}
	}
}

// heal starts the hosts a variant lacks (a replacement that failed earlier)
// and records what serves: each variant's CurrentInstanceCount, and the
// endpoint OutOfService while some variant has no healthy host, InService
// again once every variant has one.
func (c *Controller) heal(ctx context.Context, f *fleet, doc *sagemaker.EndpointDoc) {
	sv := c.serve()
	for i, pv := range doc.Config.ProductionVariants {
		if i >= len(f.variants) {
			break
		}
		v := f.variants[i]
		v.mu.Lock()
		have := len(v.hosts)
		used := map[string]bool{}
		for _, h := range v.hosts {
			used[h.name] = true
		}
		v.mu.Unlock()
		want := int(aws.ToInt32(pv.InitialInstanceCount))
		if have >= want || ctx.Err() != nil {
			continue
		}
		p, err := c.preparedPipeline(ctx, sv, f, doc, pv)
		var started []*host
		for n := 1; have+len(started) < want && err == nil; n++ {
			h := newHost(f, v, n)
			if used[h.name] {
				continue
			}
			h.timeout = c.healthTimeout(pv)
			if err = c.startHost(ctx, sv, f, p, pv, h); err == nil {
				started = append(started, h)
			}
		}
		if err == nil {
			err = c.waitHealthy(ctx, sv, started)
		}
		if err != nil {
			c.Logger.Error("endpoint: restoring missing hosts", "endpoint", f.name, "variant", v.name, "err", err)
			var bad []*host
			v.mu.Lock()
			for _, h := range started {
				if !containsHost(v.hosts, h) {
					bad = append(bad, h)
				}
			}
			v.mu.Unlock()
			c.stopHosts(ctx, f, bad, 0)
		}
	}
	if ctx.Err() != nil {
		return
	}
	counts := map[string]int32{}
	serving := true
	for _, v := range f.variants {
		v.mu.Lock()
		counts[v.name] = int32(len(v.hosts))
		v.mu.Unlock()
		serving = serving && counts[v.name] > 0
	}
	err := c.mutateDoc(ctx, f.account, f.name, func(d *sagemaker.EndpointDoc, now time.Time) bool {
		e := d.Endpoint
		if e.EndpointStatus != types.EndpointStatusInService && e.EndpointStatus != types.EndpointStatusOutOfService {
			return false
		}
		changed := false
		for j := range e.ProductionVariants {
			pv := &e.ProductionVariants[j]
			if n, ok := counts[aws.ToString(pv.VariantName)]; ok && aws.ToInt32(pv.CurrentInstanceCount) != n {
				pv.CurrentInstanceCount, changed = aws.Int32(n), true
			}
		}
		status := types.EndpointStatusInService
		if !serving {
			status = types.EndpointStatusOutOfService
		}
		if e.EndpointStatus != status {
			e.EndpointStatus, changed = status, true
		}
		if changed {
			e.LastModifiedTime = aws.Time(now)
		}
		return changed
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("endpoint: record capacity", "endpoint", f.name, "err", err)
	}
}

// check pings a host's containers and replaces the host as a whole after
// one of them exited or it failed 3 checks in a row.
func (c *Controller) check(ctx context.Context, f *fleet, h *host) {
	if transform.PingAll(ctx, h.containers) {
		h.fails = 0
		return
	}
	h.fails++
	running := true
	for _, ct := range h.containers {
		if info, err := c.Runtime.Inspect(ctx, ct.ID); err != nil || !info.Running {
			running = false
			break
		}
	}
	if h.fails < 3 && running {
		return
	}
	_, doc, err := c.load(ctx, f.account, f.name)
	if err != nil {
		return
	}
	c.Logger.Warn("endpoint: replacing unhealthy host", "endpoint", f.name, "host", h.name)
	v := h.variant
	v.mu.Lock()
	v.hosts = removeHost(v.hosts, h)
	v.mu.Unlock()
	c.stopHosts(ctx, f, []*host{h}, 0)
	for _, pv := range doc.Config.ProductionVariants {
		if aws.ToString(pv.VariantName) != v.name {
			continue
		}
		sv := c.serve()
		nh := &host{variant: v, name: h.name, label: h.label, timeout: c.healthTimeout(pv)}
		p, err := c.preparedPipeline(ctx, sv, f, doc, pv)
		if err == nil {
			err = c.startHost(ctx, sv, f, p, pv, nh)
		}
		if err != nil {
			c.Logger.Error("endpoint: restart host", "endpoint", f.name, "host", h.name, "err", err)
			return
		}
		if err := c.waitHealthy(ctx, sv, []*host{nh}); err != nil {
			c.Logger.Error("endpoint: restarted host unhealthy", "endpoint", f.name, "host", h.name, "err", err)
			c.stopHosts(ctx, f, []*host{nh}, 0)
		}
	}
}

func (v *variant) addHost(h *host) {
	v.mu.Lock()
	v.hosts = append(v.hosts, h)
	v.mu.Unlock()
}

func removeHost(hs []*host, h *host) []*host {
	out := hs[:0:0]
	for _, x := range hs {
		if x != h {
			out = append(out, x)
		}
	}
	return out
}

// teardown stops (SIGTERM, SIGKILL after StopGrace) and removes the
// endpoint's containers, network and work dir, then deletes the endpoint.
func (c *Controller) teardown(ctx context.Context, f *fleet) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if cs, err := c.Runtime.List(sctx, c.labels(f.account, f.name)); err == nil {
		var wg sync.WaitGroup
		for _, ci := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Runtime.Stop(sctx, ci.ID, c.StopGrace); err != nil && !errors.Is(err, runtime.ErrContainerNotFound) {
					c.Logger.Warn("endpoint: stop container", "endpoint", f.name, "err", err)
				}
			}()
		}
		wg.Wait()
	}
	c.removeLeftovers(sctx, f)
	r, err := c.Store.GetResource(ctx, f.account, ResourceType, f.name)
	if err != nil {
		return
	}
	if err := c.Store.DeleteResource(ctx, r.Account, r.Type, r.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.Logger.Error("endpoint: delete", "endpoint", f.name, "err", err)
		return
	}
	if tags, err := c.Store.ListTags(ctx, r.ARN); err == nil && len(tags) > 0 {
		keys := make([]string, len(tags))
		for i, t := range tags {
			keys[i] = t.Key
		}
		_ = c.Store.DeleteTags(ctx, r.ARN, keys)
	}
}

// removeLeftovers removes every container and network labelled with the
// endpoint and its work dir.
func (c *Controller) removeLeftovers(ctx context.Context, f *fleet) {
	if err := runtime.RemoveLeftovers(ctx, c.Runtime, c.labels(f.account, f.name), f.workDir); err != nil {
		c.Logger.Warn("endpoint: remove leftovers", "endpoint", f.name, "err", err)
	}
}
