package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/sirupsen/logrus"
)

// distribution looks its storage drivers, access controllers and registry
// middleware up by name in process-wide tables, with string-keyed
// parameters. Each Registry passes its own instances through the parameters.
const (
	driverName      = "wharf"
	paramDriver     = "driver"
	authName        = "wharf"
	paramController = "controller"
	captureName     = "wharf-capture"
	paramCapture    = "capture"
)

var registerOnce sync.Once

func registerGlobals() {
	registerOnce.Do(func() {
		factory.Register(driverName, driverFactory{})
		if err := auth.Register(authName, func(options map[string]any) (auth.AccessController, error) {
			ac, ok := options[paramController].(auth.AccessController)
			if !ok {
				return nil, errors.New("registry: no access controller in parameters")
			}
			return ac, nil
		}); err != nil {
			panic(err)
		}
		// A registry middleware that changes nothing but hands the storage
		// namespace the app serves to its Registry (for the ECR API).
		if err := registrymiddleware.Register(captureName, func(_ context.Context, ns distribution.Namespace, _ storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
			capture, ok := options[paramCapture].(func(distribution.Namespace))
			if !ok {
				return nil, errors.New("registry: no capture function in parameters")
			}
			capture(ns)
			return ns, nil
		}); err != nil {
			panic(err)
		}
	})
}

type driverFactory struct{}

func (driverFactory) Create(_ context.Context, parameters map[string]any) (storagedriver.StorageDriver, error) {
	d, ok := parameters[paramDriver].(storagedriver.StorageDriver)
	if !ok {
		return nil, fmt.Errorf("registry: no storage driver in parameters")
	}
	return d, nil
}

// distribution logs through logrus's standard logger (process-wide). Its
// output is discarded and a hook forwards entries to the slog logger of the
// most recently created Registry.
var (
	logHookOnce sync.Once
	logTarget   atomic.Pointer[slog.Logger]
)

func routeLogs(l *slog.Logger) {
	logTarget.Store(l)
	logHookOnce.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard)
		std.AddHook(slogHook{})
	})
	level := logrus.WarnLevel
	if l.Enabled(context.Background(), slog.LevelDebug) {
		level = logrus.InfoLevel
	}
	logrus.SetLevel(level)
}

// clientErrorMessages start messages distribution logs at error level about
// bad client input; the request's final "response completed with error"
// entry (at Debug for 4xx) reports them anyway.
var clientErrorMessages = []string{
	"canonical digest does match provided digest",
	"payload digest does not match",
	"error parsing reference from context",
}

type slogHook struct{}

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (slogHook) Fire(e *logrus.Entry) error {
	l := logTarget.Load()
	if l == nil {
		return nil
	}
	level := slog.LevelDebug
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		level = slog.LevelError
		// "response completed with error" for client errors (404 on a HEAD
		// docker makes before every upload, ...) is not a server problem.
		if code, ok := e.Data["err.code"].(errcode.ErrorCode); ok && code.Descriptor().HTTPStatusCode < 500 {
			level = slog.LevelDebug
		}
		for _, p := range clientErrorMessages {
			if strings.HasPrefix(e.Message, p) {
				level = slog.LevelDebug
			}
		}
	case logrus.WarnLevel:
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if e.Context != nil {
		ctx = e.Context
	}
	if !l.Enabled(ctx, level) {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "go.version" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys)+1)
	attrs = append(attrs, slog.String("component", "distribution"))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, e.Data[k]))
	}
	l.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
