package endpoint

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the per-endpoint invocation metrics on /metrics, modelled on
// SageMaker's endpoint metrics (Invocations, Invocation4XXErrors,
// Invocation5XXErrors, ModelLatency, OverheadLatency).
type Metrics struct {
	invocations *prometheus.CounterVec
	model       *prometheus.HistogramVec
	overhead    *prometheus.HistogramVec
	units       *prometheus.CounterVec
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics creates the metrics; register Collectors with a registry.
func NewMetrics() *Metrics {
	labels := []string{"account", "endpoint", "variant"}
	return &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_endpoint_invocations_total",
			Help: "InvokeEndpoint requests routed to a container, by endpoint, variant and outcome " +
				"(2xx, 4xx and 5xx: the container's status class; error: no response in time).",
		}, append(labels, "outcome")),
		model: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_endpoint_model_latency_seconds",
			Help:    "Time the container took to answer an invocation (ModelLatency).",
			Buckets: latencyBuckets,
		}, labels),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_endpoint_overhead_latency_seconds",
			Help:    "Time Wharf added to an invocation beyond the container's (OverheadLatency): reading, routing, relaying.",
			Buckets: latencyBuckets,
		}, labels),
		units: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_endpoint_inference_units_total",
			Help: "Inference units of successful invocations: 1 each, or ConsumedUnits of a valid X-Amzn-Inference-Metering response header.",
		}, labels),
	}
}

// Collectors returns what to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.invocations, m.model, m.overhead, m.units}
}

// variantMetrics are one variant's observers, resolved once so that the
// request path does no label lookups.
type variantMetrics struct {
	outcome         map[string]prometheus.Counter
	model, overhead prometheus.Observer
	units           prometheus.Counter
}

func (m *Metrics) forVariant(account, endpoint, variant string) *variantMetrics {
	if m == nil {
		return nil
	}
	vm := &variantMetrics{
		outcome:  map[string]prometheus.Counter{},
		model:    m.model.WithLabelValues(account, endpoint, variant),
		overhead: m.overhead.WithLabelValues(account, endpoint, variant),
		units:    m.units.WithLabelValues(account, endpoint, variant),
	}
	for _, o := range []string{"2xx", "4xx", "5xx", "error"} {
		vm.outcome[o] = m.invocations.WithLabelValues(account, endpoint, variant, o)
	}
	return vm
}

// observe records one invocation: status 0 means no response; model is the
// container's share of total.
func (vm *variantMetrics) observe(status int, total, model time.Duration, units int) {
	if vm == nil {
		return
	}
	switch {
	case status == 0:
		vm.outcome["error"].Inc()
	case status >= 200 && status < 300:
		vm.outcome["2xx"].Inc()
		vm.units.Add(float64(units))
	case status >= 400 && status < 500:
		vm.outcome["4xx"].Inc()
	default:
		vm.outcome["5xx"].Inc()
	}
	vm.model.Observe(model.Seconds())
	vm.overhead.Observe(max(total-model, 0).Seconds())
}

// meteredUnits reads X-Amzn-Inference-Metering ({"Dimension":
// "inference.count", "ConsumedUnits": n}, marketplace.md §9): a valid
// header gives n (1-10,000), anything else counts 1.
func meteredUnits(header string) (units int, valid bool) {
	if header == "" {
		return 1, true
	}
	var m struct {
		Dimension     string
		ConsumedUnits jsonInt
	}
	if err := json.Unmarshal([]byte(header), &m); err != nil || m.Dimension != "inference.count" ||
		m.ConsumedUnits < 1 || m.ConsumedUnits > 10000 {
		return 1, false
	}
	return int(m.ConsumedUnits), true
}

// jsonInt accepts only a JSON integer.
type jsonInt int

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	v, err := strconv.Atoi(string(b))
	if err != nil {
		return err
	}
	*n = jsonInt(v)
	return nil
}
