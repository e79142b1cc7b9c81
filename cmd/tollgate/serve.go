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

	"github.com/tollgate/tollgate/pkg/config"
)

const shutdownGrace = 30 * time.Second

func newServeCommand() *cobra.Command {
	var (
		path    string
		initDev bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			logger := newLogger(cfg.Log, os.Stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if initDev {
				if err := ensureDevFiles(cfg, logger); err != nil {
					return err
				}
			}
			ln, err := net.Listen("tcp", cfg.Server.Addr)
			if err != nil {
				return err
			}
			return serve(ctx, cfg, logger, ln)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", config.DefaultFile, "configuration file")
	cmd.Flags().BoolVar(&initDev, "init-dev", false,
		"create a development signing key, certificate and htpasswd user when they are missing (never in production)")
	return cmd
}

// serve runs the server on ln until ctx ends, then shuts down gracefully,
// letting in-flight requests finish.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ln net.Listener) error {
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("tollgate listening", "addr", ln.Addr().String(), "issuer", cfg.Token.Issuer,
		"kid", a.key.ID(), "algorithm", a.key.Algorithm(), "version", version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
