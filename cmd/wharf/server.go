package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/server"
)

func serverCmd() *cobra.Command {
	var addr, dataDir, region string
	var drain, stopGrace time.Duration
	var fsync, gpus bool
	var scale float64
	var maxJobs, maxInFlight int
	var logCap int64
	var advisories string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run Wharf (SQLite and files under --data-dir)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			catalog, err := instances.Default(scale, gpus)
			if err != nil {
				return err
			}
			var rt runtime.Runtime
			if d, err := docker.New(); err != nil {
				log.Warn("no Docker Engine: jobs will fail until one is available and Wharf restarts", "err", err)
			} else {
				defer d.Close()
				rt = d
			}
			srv, err := server.Open(ctx, server.Config{
				DataDir:              dataDir,
				Region:               region,
				RootAccessKeyID:      os.Getenv("WHARF_ROOT_ACCESS_KEY_ID"),
				RootSecretAccessKey:  os.Getenv("WHARF_ROOT_SECRET_ACCESS_KEY"),
				Fsync:                fsync,
				Runtime:              rt,
				Catalog:              catalog,
				MaxConcurrentJobs:    maxJobs,
				EndpointMaxInFlight:  maxInFlight,
				StopGrace:            stopGrace,
				LogMaxBytesPerStream: logCap,
				AdvisoriesDir:        advisories,
				Logger:               log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			if srv.CreatedRootCredentials != "" {
				fmt.Fprintf(os.Stderr, "\nRoot credentials were generated and written to %s\nUse them with:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_DEFAULT_REGION=%s\n\n",
					srv.CreatedRootCredentials, srv.CreatedRootCredentials, region)
			}
			ctrlCtx, stopControllers := context.WithCancel(context.Background())
			controllersDone := srv.Start(ctrlCtx)
			defer func() { stopControllers(); <-controllersDone }()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if err := srv.ReloadAdvisories(); err != nil {
						log.Error("reload advisories", "err", err)
					}
				}
			}()
			log.Info("wharf listening", "addr", ln.Addr().String(), "data_dir", dataDir, "region", region)

			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			log.Info("shutting down: finishing in-flight requests", "timeout", drain)
			sctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("shutdown", "err", err)
			}
			// Running jobs keep their containers; the next start adopts them.
			stopControllers()
			<-controllersDone
			if err := srv.Close(); err != nil {
				return err
			}
			log.Info("stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data", "directory for metadata, objects and credentials")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "AWS region name Wharf reports")
	cmd.Flags().BoolVar(&fsync, "fsync", false, "fsync every object write (durable against power loss; slower small writes)")
	cmd.Flags().Float64Var(&scale, "instance-scale", 1, "fraction of each ml.* instance type's CPUs and memory given to a container (e.g. 0.25 on a laptop)")
	cmd.Flags().BoolVar(&gpus, "gpus", false, "offer GPU instance types (needs the NVIDIA container runtime)")
	cmd.Flags().IntVar(&maxJobs, "max-concurrent-jobs", 4, "training jobs run at once; more wait as Pending")
	cmd.Flags().IntVar(&maxInFlight, "endpoint-max-inflight", 64, "invocations in flight to one endpoint instance; more queue up to 5 s, then get ModelNotReadyException")
	cmd.Flags().StringVar(&advisories, "advisories", "", "directory of OSV advisories (loose *.json and <Ecosystem>/all.zip) for image scans; reloaded on SIGHUP")
	cmd.Flags().Int64Var(&logCap, "log-max-bytes-per-stream", 64<<20, "bytes kept per job log stream; later output is dropped with a marker line")
	cmd.Flags().DurationVar(&stopGrace, "stop-grace", 120*time.Second, "time between SIGTERM and SIGKILL when a job is stopped")
	cmd.Flags().DurationVar(&drain, "shutdown-timeout", 60*time.Second, "how long to wait for in-flight requests on SIGTERM/SIGINT")
	return cmd
}
