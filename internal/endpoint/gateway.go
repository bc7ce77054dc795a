package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi"
)

// Runtime limits (api.md §10).
const (
	MaxPayloadBytes = 6 << 20
	InvokeTimeout   = 60 * time.Second
)

// Request headers of InvokeEndpoint.
const (
	hdrCustomAttributes = "X-Amzn-Sagemaker-Custom-Attributes"
	hdrTargetVariant    = "X-Amzn-Sagemaker-Target-Variant"
	hdrTargetContainer  = "X-Amzn-Sagemaker-Target-Container-Hostname"
	hdrInferenceID      = "X-Amzn-Sagemaker-Inference-Id"
	hdrInvokedVariant   = "X-Amzn-Invoked-Production-Variant"
	hdrMetering         = "X-Amzn-Inference-Metering"
)

// unsupportedHeaders name InvokeEndpoint features Wharf rejects.
var unsupportedHeaders = []string{
	"X-Amzn-SageMaker-Target-Model", "X-Amzn-SageMaker-Enable-Explanations", "X-Amzn-SageMaker-Inference-Component",
	"X-Amzn-SageMaker-Session-Id",
}

// InvocationsEndpoint returns the endpoint name of a runtime request path
// /endpoints/{EndpointName}/invocations.
func InvocationsEndpoint(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/endpoints/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/invocations")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// WriteError answers in the sagemaker-runtime REST-JSON error shape.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	writeJSONError(w, status, code, map[string]any{"message": message})
}

func writeJSONError(w http.ResponseWriter, status int, code string, body map[string]any) {
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", code)
	if h.Get("x-amzn-RequestId") == "" {
		h.Set("x-amzn-RequestId", awsapi.NewRequestID())
	}
	w.WriteHeader(status)
	w.Write(b)
}

// Invoke serves InvokeEndpoint for an authenticated account (api.md §10):
// it picks a variant by weight (or X-Amzn-SageMaker-Target-Variant), then
// the host with the fewest requests in flight, and relays the request
// through the host's containers: all of them in order (a serial pipeline;
// most models have one), each 2xx response becoming the next request, or in
// Direct mode the one X-Amzn-SageMaker-Target-Container-Hostname names.
func (c *Controller) Invoke(w http.ResponseWriter, r *http.Request, account, name string) {
	start := time.Now()
	w.Header().Set("x-amzn-RequestId", awsapi.NewRequestID())
	if r.Method != http.MethodPost {
		WriteError(w, http.StatusBadRequest, "ValidationError", "InvokeEndpoint requires POST.")
		return
	}
	for _, h := range unsupportedHeaders {
		if r.Header.Get(h) != "" {
			WriteError(w, http.StatusBadRequest, "ValidationError", h+" is not supported yet.")
			return
		}
	}
	for _, h := range []string{"Content-Type", "Accept", hdrCustomAttributes} {
		if len(r.Header.Get(h)) > 1024 {
			WriteError(w, http.StatusBadRequest, "ValidationError", h+" must be at most 1024 characters.")
			return
		}
	}
	if id := r.Header.Get(hdrInferenceID); len(id) > 64 {
		WriteError(w, http.StatusBadRequest, "ValidationError", "InferenceId must be 1-64 characters.")
		return
	}
	target := r.Header.Get(hdrTargetContainer)
	if len(target) > 63 {
		WriteError(w, http.StatusBadRequest, "ValidationError", "TargetContainerHostname must be at most 63 characters.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		WriteError(w, http.StatusBadRequest, "ValidationError", "Could not read the request body.")
		return
	}
	if len(body) > MaxPayloadBytes {
		WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("Request body exceeds the maximum of %d bytes.", MaxPayloadBytes))
		return
	}
	f, v, h := c.acquire(r.Context(), account, name, r.Header.Get(hdrTargetVariant))
	if f == nil {
		// Not routed yet right after a server start: the controller is
		// still adopting the containers of an endpoint InService.
		if res, err := c.Store.GetResource(r.Context(), account, ResourceType, name); err == nil &&
			(res.Status == string(types.EndpointStatusInService) || res.Status == string(types.EndpointStatusOutOfService) ||
				res.Status == string(types.EndpointStatusUpdating)) {
			WriteError(w, http.StatusTooManyRequests, "ModelNotReadyException", fmt.Sprintf("Model for endpoint %s is not ready. Please try again later.", name))
			return
		}
		WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("Endpoint %s of account %s not found.", name, account))
		return
	}
	if v == nil {
		WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("The variant %q does not exist on endpoint %s.", r.Header.Get(hdrTargetVariant), name))
		return
	}
	if h == nil {
		WriteError(w, http.StatusTooManyRequests, "ModelNotReadyException", fmt.Sprintf("Model for endpoint %s variant %s is not ready. Please try again later.", name, v.name))
		return
	}
	defer v.release(h)
	// Metrics of what reached the containers: status is the answer of the
	// last container called (0: none in time), model its time and theirs.
	var (
		status int
		model  time.Duration
		units  = 1
	)
	defer func() {
		if status != -1 {
			v.metrics(c.Metrics, f).observe(status, time.Since(start), model, units)
		}
	}()
	status = -1 // not sent to a container (yet)

	// chain is the containers the request passes through; first is the
	// position of chain[0] in the host.
	chain, first := h.containers, 0
	switch {
	case v.direct && target == "":
		WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("Endpoint %s serves a multi-container model in Direct mode: name the container with TargetContainerHostname.", name))
		return
	case v.direct:
		first = -1
		for i, ct := range h.containers {
			if strings.EqualFold(ct.Name, target) {
				chain, first = h.containers[i:i+1], i
				break
			}
		}
		if first < 0 {
			WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("The container hostname %q does not exist on endpoint %s variant %s.", target, name, v.name))
			return
		}
	case target != "":
		WriteError(w, http.StatusBadRequest, "ValidationError", fmt.Sprintf("Endpoint %s is not configured for direct invocation (InferenceExecutionConfig.Mode Direct); TargetContainerHostname is not allowed.", name))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), InvokeTimeout)
	defer cancel()
	ctype, accept, attrs := r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get(hdrCustomAttributes)
	var outAttrs string
	for i, ct := range chain {
		last := i == len(chain)-1
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ct.URL+"/invocations", bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		// Accept is what the client wants back: only the last container
		// produces that; the ones before produce what their successor reads.
		if last && accept != "" {
			req.Header.Set("Accept", accept)
		}
		if attrs != "" {
			req.Header.Set(hdrCustomAttributes, attrs)
		}
		sent := time.Now()
		resp, err := h.client.Do(req)
		status = 0
		if err != nil {
			model += time.Since(sent)
			if r.Context().Err() != nil {
				return // the client went away
			}
			msg := "Your invocation timed out while waiting for a response from container " + ct.Name + "."
			if !errors.Is(err, context.DeadlineExceeded) {
				msg = "Could not get a response from container " + ct.Name + ": " + err.Error()
			}
			c.modelError(w, f, h, first+i, 0, msg, "")
			return
		}
		out, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayloadBytes+1))
		resp.Body.Close()
		model += time.Since(sent)
		if err != nil {
			c.modelError(w, f, h, first+i, 0, "Reading the response of container "+ct.Name+" failed: "+err.Error(), "")
			return
		}
		status = resp.StatusCode
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			c.modelError(w, f, h, first+i, resp.StatusCode, "", string(out))
			return
		}
		if len(out) > MaxPayloadBytes {
			msg := fmt.Sprintf("The response of container %s exceeds %d bytes.", ct.Name, MaxPayloadBytes)
			if !last {
				msg = fmt.Sprintf("Container %s answered %d, but its response, the request to container %s, exceeds the %d-byte payload limit.",
					ct.Name, resp.StatusCode, chain[i+1].Name, MaxPayloadBytes)
			}
			c.modelError(w, f, h, first+i, resp.StatusCode, msg, "")
			return
		}
		body, ctype, outAttrs = out, resp.Header.Get("Content-Type"), resp.Header.Get(hdrCustomAttributes)
		if last {
			// Per-inference metering (marketplace.md §9): recorded, never
			// passed to the client.
			var ok bool
			if units, ok = meteredUnits(resp.Header.Get(hdrMetering)); !ok {
				c.Logger.Warn("endpoint: invalid X-Amzn-Inference-Metering header, counted as 1", "endpoint", f.name, "account", f.account, "header", resp.Header.Get(hdrMetering))
			}
		}
	}
	hd := w.Header()
	if ctype != "" {
		hd.Set("Content-Type", ctype)
	}
	if outAttrs != "" {
		hd.Set(hdrCustomAttributes, outAttrs)
	}
	hd.Set(hdrInvokedVariant, v.name)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// route picks the variant and host of a request, the host's in-flight
// count already incremented. A host of a fleet retired by UpdateEndpoint is
// given back and the lookup repeated: the controller publishes the new fleet
// before it marks the old one retired and then waits for the old hosts'
// in-flight counts to reach zero, so no request reaches a stopped host.
func (c *Controller) route(account, name, target string) (*fleet, *variant, *host) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		f := c.fleets[fleetKey(account, name)]
		c.mu.Unlock()
		if f == nil {
			return nil, nil, nil
		}
		v := f.pickVariant(target)
		if v == nil {
			return f, nil, nil
		}
		h := v.pickHost()
		if h != nil && f.retired.Load() && attempt < 5 {
			h.inflight.Add(-1)
			continue
		}
		return f, v, h
	}
}

// acquire routes a request like route, waiting while every host of the
// chosen variant already has MaxInFlightPerHost requests in flight (up to
// queueWait; then h is nil and the caller answers ModelNotReadyException).
func (c *Controller) acquire(ctx context.Context, account, name, target string) (*fleet, *variant, *host) {
	var deadline time.Time
	for {
		f, v, h := c.route(account, name, target)
		if h == nil || h.inflight.Load() <= int64(c.maxInFlight()) {
			return f, v, h
		}
		v.release(h)
		if deadline.IsZero() {
			deadline = time.Now().Add(queueWait)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return f, v, nil
		}
		t := time.NewTimer(min(wait, 10*time.Millisecond)) // hosts may come and go meanwhile
		select {
		case <-v.freed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return f, v, nil
		}
		t.Stop()
	}
}

// queueWait bounds how long a request waits for a host below the cap.
const queueWait = 5 * time.Second

func (c *Controller) maxInFlight() int {
	if c.MaxInFlightPerHost > 0 {
		return c.MaxInFlightPerHost
	}
	return 64
}

// release gives back h's slot and wakes one request waiting for one.
func (v *variant) release(h *host) {
	h.inflight.Add(-1)
	select {
	case v.freed <- struct{}{}:
	default:
	}
}

// metrics returns the variant's metric observers, resolved on first use.
func (v *variant) metrics(m *Metrics, f *fleet) *variantMetrics {
	v.metricsOnce.Do(func() { v.vm = m.forVariant(f.account, f.name, v.name) })
	return v.vm
}

// modelError answers ModelError (424) for a failure of container i of h;
// status 0 means no response (timeout or connection failure).
func (c *Controller) modelError(w http.ResponseWriter, f *fleet, h *host, i, status int, msg, original string) {
	code, kind := "SERVER_ERROR_FROM_MODEL", "server"
	if status >= 400 && status < 500 {
		code, kind = "CLIENT_ERROR_FROM_MODEL", "client"
	}
	group := LogGroupPrefix + f.name
	if msg == "" {
		msg = original
	}
	message := fmt.Sprintf("Received %s error (%d) from %s with message %q. See https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#logEventViewer:group=%s in account %s for more information.",
		kind, status, h.containers[i].Name, msg, c.Region, c.Region, group, f.account)
	writeJSONError(w, http.StatusFailedDependency, "ModelError", map[string]any{
		"ErrorCode": code, "Message": message, "OriginalStatusCode": status, "OriginalMessage": original,
		"LogStreamArn": fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", c.Region, f.account, group, h.streams[i]),
	})
}

// pickVariant returns the named variant, or one chosen at random by weight.
func (f *fleet) pickVariant(target string) *variant {
	if target != "" {
		for _, v := range f.variants {
			if strings.EqualFold(v.name, target) {
				return v
			}
		}
		return nil
	}
	var total float64
	for _, v := range f.variants {
		total += v.getWeight()
	}
	if total <= 0 {
		return nil
	}
	x := rand.Float64() * total
	for _, v := range f.variants {
		w := v.getWeight()
		if w <= 0 {
			continue
		}
		if x < w {
			return v
		}
		x -= w
	}
	for i := len(f.variants) - 1; i >= 0; i-- {
		if f.variants[i].getWeight() > 0 {
			return f.variants[i]
		}
	}
	return nil
}

// pickHost returns the host with the fewest requests in flight (ties
// broken at random) with its count already incremented, or nil.
func (v *variant) pickHost() *host {
	v.mu.Lock()
	defer v.mu.Unlock()
	var best *host
	var bestN int64
	ties := 0
	for _, h := range v.hosts {
		n := h.inflight.Load()
		switch {
		case best == nil || n < bestN:
			best, bestN, ties = h, n, 1
		case n == bestN:
			ties++
			if rand.IntN(ties) == 0 {
				best = h
			}
		}
	}
	if best != nil {
		best.inflight.Add(1)
	}
	return best
}
