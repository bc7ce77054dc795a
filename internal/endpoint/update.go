package endpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/sagemaker"
	"github.com/wharfml/wharf/internal/transform"
)

func (c *Controller) serve() *transform.Serve {
	return &transform.Serve{Store: c.Store, Blobs: c.Blobs, Runtime: c.Runtime, Images: c.Images, MaxModelBytes: c.MaxModelBytes}
}

func (c *Controller) healthTimeout(pv types.ProductionVariant) time.Duration {
	if t := pv.ContainerStartupHealthCheckTimeoutInSeconds; t != nil {
		return time.Duration(*t) * time.Second
	}
	return c.HealthTimeout
}

// update carries out a pending UpdateEndpoint for the serving fleet f and
// returns the fleet serving afterwards (the new one, or f after a rollback).
func (c *Controller) update(ctx context.Context, f *fleet, doc *sagemaker.EndpointDoc) *fleet {
	p := doc.Pending
	nf := &fleet{account: f.account, name: f.name, arn: f.arn, workDir: f.workDir, network: f.network,
		followers: f.followers, gen: f.gen + 1}
	nf.variants = newVariants(p.Config, p.Models)
	ndoc := &sagemaker.EndpointDoc{Endpoint: doc.Endpoint, Config: p.Config, Models: p.Models, Generation: nf.gen}
	sv := c.serve()
	var started []*host
	var err error
	for vi, pv := range p.Config.ProductionVariants {
		var pl *transform.Pipeline
		if err == nil {
			pl, err = c.preparedPipeline(ctx, sv, nf, ndoc, pv)
		}
		for i := 1; i <= int(aws.ToInt32(pv.InitialInstanceCount)) && err == nil; i++ {
			h := newHost(nf, nf.variants[vi], i)
			if err = c.startHost(ctx, sv, nf, pl, pv, h); err == nil {
				h.timeout = c.healthTimeout(pv)
				started = append(started, h)
			}
		}
	}
	if err == nil {
		err = c.waitHealthy(ctx, sv, started)
	}
	if err != nil {
		if ctx.Err() != nil {
			return f // shutting down: the next start rolls the update back
		}
		c.Logger.Warn("endpoint: update failed, rolling back", "endpoint", f.name, "err", err)
		c.stopHosts(ctx, nf, started, 0)
		c.removeGeneration(ctx, nf)
		c.mutateDoc(ctx, f.account, f.name, func(d *sagemaker.EndpointDoc, now time.Time) bool {
			if d.Endpoint.EndpointStatus != types.EndpointStatusUpdating {
				return false
			}
			d.Pending, d.Endpoint.PendingDeploymentSummary = nil, nil
			d.Endpoint.EndpointStatus = types.EndpointStatusInService
			d.Endpoint.FailureReason = aws.String(contract.TruncateReason("Failed to update endpoint to config " +
				aws.ToString(p.Config.EndpointConfigName) + "; rolled back: " + err.Error()))
			return true
		})
		return f
	}

	// Switch: the gateway routes to nf from now on; f's hosts finish what
	// they have in flight and stop.
	c.publish(nf)
	f.retired.Store(true)
	var old []*host
	for _, v := range f.variants {
		v.mu.Lock()
		old = append(old, v.hosts...)
		v.mu.Unlock()
	}
	c.drain(old)
	c.stopHosts(ctx, f, old, c.StopGrace)
	c.removeGeneration(ctx, f)
	err = c.mutateDoc(ctx, f.account, f.name, func(d *sagemaker.EndpointDoc, now time.Time) bool {
		e := d.Endpoint
		d.Config, d.Models, d.Generation, d.Pending = p.Config, p.Models, nf.gen, nil
		e.EndpointConfigName = p.Config.EndpointConfigName
		e.ProductionVariants = sagemaker.VariantSummaries(p.Config, p.Models, now)
		for i := range e.ProductionVariants {
			pv := &e.ProductionVariants[i]
			pv.CurrentInstanceCount, pv.CurrentWeight, pv.VariantStatus = pv.DesiredInstanceCount, pv.DesiredWeight, nil
		}
		if !p.RetainDeploymentConfig {
			e.LastDeploymentConfig = p.DeploymentConfig
		}
		e.PendingDeploymentSummary = nil
		e.EndpointStatus = types.EndpointStatusInService
		e.FailureReason = nil
		return true
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("endpoint: update status", "endpoint", f.name, "err", err)
	}
	return nf
}

// waitHealthy waits until every container of every host answers /ping and
// adds each host to its variant once all of its containers do.
func (c *Controller) waitHealthy(ctx context.Context, sv *transform.Serve, hosts []*host) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sv.WaitHostHealthy(ctx, h.containers, h.variant.name+"/"+h.name, h.timeout)
			if errs[i] == nil {
				h.variant.addHost(h)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// drain waits until no request is in flight on hosts (at most the
// invocation timeout and a little more).
func (c *Controller) drain(hosts []*host) {
	deadline := time.Now().Add(InvokeTimeout + 5*time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, h := range hosts {
			if h.inflight.Load() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopHosts stops (SIGTERM, SIGKILL after grace; grace 0 kills at once)
// and removes hosts' containers and work dirs.
func (c *Controller) stopHosts(ctx context.Context, f *fleet, hosts []*host, grace time.Duration) {
	var wg sync.WaitGroup
	for _, h := range hosts {
		if len(h.containers) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cwg sync.WaitGroup
			for _, ct := range h.containers {
				cwg.Add(1)
				go func() {
					defer cwg.Done()
					if grace > 0 {
						if err := c.Runtime.Stop(ctx, ct.ID, grace); err != nil && !errors.Is(err, runtime.ErrContainerNotFound) {
							c.Logger.Warn("endpoint: stop container", "endpoint", f.name, "err", err)
						}
					}
					if err := c.Runtime.Remove(ctx, ct.ID); err != nil && !errors.Is(err, runtime.ErrContainerNotFound) {
						c.Logger.Warn("endpoint: remove container", "endpoint", f.name, "err", err)
					}
				}()
			}
			cwg.Wait()
			os.RemoveAll(filepath.Join(f.workDir, h.label))
			if h.client != nil {
				h.client.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
}

// removeGeneration removes any container left of fleet f's generation
// (one that never became a host, say).
func (c *Controller) removeGeneration(ctx context.Context, f *fleet) {
	cs, err := c.Runtime.List(ctx, c.labels(f.account, f.name))
	if err != nil {
		return
	}
	for _, ci := range cs {
		if genOf(ci.Labels[runtime.LabelHost]) == f.gen {
			c.Runtime.Remove(ctx, ci.ID)
			os.RemoveAll(filepath.Join(f.workDir, ci.Labels[runtime.LabelHost]))
		}
	}
}

// genOf returns the generation of a host label.
func genOf(label string) int {
	i := strings.LastIndex(label, "-g")
	if i < 0 {
		return 0
	}
	var n int
	if _, err := fmt.Sscanf(label[i+2:], "%d", &n); err != nil {
		return 0
	}
	return n
}

// scale applies UpdateEndpointWeightsAndCapacities: weights at once, then
// hosts started (and awaited) or drained and stopped per variant.
func (c *Controller) scale(ctx context.Context, f *fleet, doc *sagemaker.EndpointDoc) {
	sv := c.serve()
	var errs []error
	for _, want := range doc.Endpoint.ProductionVariants {
		var v *variant
		var pv types.ProductionVariant
		for i, cv := range doc.Config.ProductionVariants {
			if aws.ToString(cv.VariantName) == aws.ToString(want.VariantName) && i < len(f.variants) {
				v, pv = f.variants[i], cv
			}
		}
		if v == nil {
			continue
		}
		if want.DesiredWeight != nil {
			v.setWeight(float64(*want.DesiredWeight))
		}
		n := int(aws.ToInt32(want.DesiredInstanceCount))
		v.mu.Lock()
		have := append([]*host(nil), v.hosts...)
		v.mu.Unlock()
		switch {
		case n > len(have):
			used := map[string]bool{}
			for _, h := range have {
				used[h.name] = true
			}
			var started []*host
			pl, err := c.preparedPipeline(ctx, sv, f, doc, pv)
			for i := 1; len(have)+len(started) < n && err == nil; i++ {
				h := newHost(f, v, i)
				if used[h.name] {
					continue
				}
				if err = c.startHost(ctx, sv, f, pl, pv, h); err == nil {
					h.timeout = c.healthTimeout(pv)
					started = append(started, h)
				}
			}
			if err == nil {
				err = c.waitHealthy(ctx, sv, started)
			}
			if err != nil {
				errs = append(errs, err)
				// Keep only what became healthy.
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
		case n < len(have):
			gone := have[n:]
			v.mu.Lock()
			for _, h := range gone {
				v.hosts = removeHost(v.hosts, h)
			}
			v.mu.Unlock()
			c.drain(gone)
			c.stopHosts(ctx, f, gone, c.StopGrace)
		}
	}
	if ctx.Err() != nil {
		return
	}
	err := c.mutateDoc(ctx, f.account, f.name, func(d *sagemaker.EndpointDoc, now time.Time) bool {
		if d.Endpoint.EndpointStatus != types.EndpointStatusUpdating || d.Pending != nil {
			return false
		}
		for i, v := range f.variants {
			v.mu.Lock()
			count := int32(len(v.hosts))
			v.mu.Unlock()
			weight := float32(v.getWeight())
			if i < len(d.Config.ProductionVariants) {
				d.Config.ProductionVariants[i].InitialInstanceCount = aws.Int32(count)
				d.Config.ProductionVariants[i].InitialVariantWeight = aws.Float32(weight)
			}
			for j := range d.Endpoint.ProductionVariants {
				pv := &d.Endpoint.ProductionVariants[j]
				if aws.ToString(pv.VariantName) == v.name {
					pv.CurrentInstanceCount, pv.DesiredInstanceCount = aws.Int32(count), aws.Int32(count)
					pv.CurrentWeight, pv.DesiredWeight = aws.Float32(weight), aws.Float32(weight)
				}
			}
		}
		d.Endpoint.EndpointStatus = types.EndpointStatusInService
		d.Endpoint.FailureReason = nil
		if err := errors.Join(errs...); err != nil {
			d.Endpoint.FailureReason = aws.String(contract.TruncateReason("Failed to update instance counts: " + err.Error()))
		}
		return true
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("endpoint: update status", "endpoint", f.name, "err", err)
	}
}

func containsHost(hs []*host, h *host) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}
