package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/tollgate/tollgate/pkg/asynclog"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/config"
)

// maxHeaderBytes bounds a request's header; a larger one is answered 431.
const maxHeaderBytes = 64 << 10

func newServeCommand() *cobra.Command {
	var initDev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			// The log (the access log above all) is written by its own
			// goroutine: a request pays a memory copy, not a system call.
			// Close writes the rest after the server has stopped.
			out := asynclog.New(os.Stderr, 0, 0)
			defer closeLog(out)
			logger := newLoggerFor(cfg.Log, out, isTerminal(os.Stderr))
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
	cmd.Flags().BoolVar(&initDev, "init-dev", false,
		"create a development signing key, certificate and htpasswd user when they are missing (never in production)")
	return cmd
}

// closeLog writes out the buffered log and says how many lines an
// overloaded output lost, if any.
func closeLog(out *asynclog.Writer) {
	_ = out.Close()
	if n := out.Dropped(); n > 0 {
		fmt.Fprintf(os.Stderr, "tollgate: %d log lines were dropped: the log output could not keep up\n", n)
	}
}

// waitForEnd blocks until ctx ends (nil) or the server fails (its error),
// reloading on every SIGHUP (received on hup) meanwhile.
func waitForEnd(ctx context.Context, errc <-chan error, hup <-chan os.Signal, a *app, logger *slog.Logger) error {
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return nil
		case <-hup:
			a.Reload(ctx, logger)
		}
	}
}

// serve runs the server on ln (HTTPS when server.tls is set) until ctx
// ends, then shuts down gracefully, letting in-flight requests finish
// within server.shutdown_timeout.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ln net.Listener) error {
	// SIGHUP is caught from the start: the listener already queues
	// connections while the app is built, and Go's default for SIGHUP is
	// to exit. One that comes before the app is ready reloads once it is.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tlsCfg *tls.Config
	if cfg.Server.TLS.Enabled() {
		var err error
		if tlsCfg, err = newTLSConfig(cfg.Server.TLS, logger); err != nil {
			ln.Close()
			return err
		}
	}
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	_, stopDebug, err := serveDebug(cfg.Server.DebugAddr, logger)
	if err != nil {
		return err
	}
	defer stopDebug()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from tlsCfg.GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	logger.Info("tollgate listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil,
		"client_auth", cfg.Server.TLS.ClientAuth, "issuer", cfg.Token.Issuer,
		"kid", a.signing.active().ID(), "algorithm", a.signing.active().Algorithm(), "version", version,
		"config", configOrigin(cfg))
	if err := waitForEnd(ctx, errc, hup, a, logger); err != nil {
		return err
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
