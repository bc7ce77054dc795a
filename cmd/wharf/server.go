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
	"github.com/wharfml/wharf/internal/server"
)

func serverCmd() *cobra.Command {
	var addr, dataDir, region string
	var drain time.Duration
	var fsync bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run Wharf (SQLite and files under --data-dir)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			srv, err := server.Open(ctx, server.Config{
				DataDir:             dataDir,
				Region:              region,
				RootAccessKeyID:     os.Getenv("WHARF_ROOT_ACCESS_KEY_ID"),
				RootSecretAccessKey: os.Getenv("WHARF_ROOT_SECRET_ACCESS_KEY"),
				Fsync:               fsync,
				Logger:              log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			if srv.CreatedRootCredentials != "" {
				fmt.Fprintf(os.Stderr, "\nRoot credentials were generated and written to %s\nUse them with:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_DEFAULT_REGION=%s\n\n",
					srv.CreatedRootCredentials, srv.CreatedRootCredentials, region)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
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
	cmd.Flags().DurationVar(&drain, "shutdown-timeout", 60*time.Second, "how long to wait for in-flight requests on SIGTERM/SIGINT")
	return cmd
}
