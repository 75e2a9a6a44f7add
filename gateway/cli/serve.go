package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	"patchbay.dev/gateway/api"
	"patchbay.dev/gateway/broker"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/pki"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/postgres"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/tools/command"
)

// shutdownTimeout bounds how long serve waits for HTTP requests in flight
// when it stops.
const shutdownTimeout = 10 * time.Second

func serve() *command.Command {
	cfg := DefaultServeConfig()
	return &command.Command{
		Name:  "serve",
		Short: "run the gateway until interrupted",
		Long: `
Runs the gateway: the MQTT broker (embedded, or a connection to an external
one), the ingest of every device's status, state and events into the fleet
store, and the HTTP API (/api/v1/devices, /healthz, /metrics). It stops
cleanly on SIGINT or SIGTERM.

The embedded broker needs TLS files: its certificate (--tls-cert, --tls-key)
and the device CA (--tls-ca); 'patchbay-gateway pki' makes them. For
development, --insecure-dev-auth admits devices over plain TCP as the
"{tenant}/{device}" their username claims.

With --broker, the gateway reads from an external broker (mosquitto, EMQX, …)
with a persistent session named --client-id and a shared subscription, so
that several gateways split the devices' messages. --tls-cert and --tls-key
are then its client certificate, --tls-ca the CA of the broker's.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Store, "store", cfg.Store, "fleet store: a SQLite file, or a postgres:// URL")
			fs.StringVar(&cfg.MQTTListen, "mqtt-listen", cfg.MQTTListen, "embedded broker: listen address")
			fs.StringVar(&cfg.Broker, "broker", cfg.Broker, "external broker URL (tcp://, ssl://); empty for the embedded broker")
			fs.StringVar(&cfg.ClientID, "client-id", cfg.ClientID, "external broker: this gateway's session, unique per replica")
			fs.StringVar(&cfg.Group, "share-group", cfg.Group, "external broker: shared subscription group")
			fs.StringVar(&cfg.HTTPListen, "http-listen", cfg.HTTPListen, "HTTP API listen address")
			fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate: the embedded broker's, or the gateway's client certificate")
			fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM key of --tls-cert")
			fs.StringVar(&cfg.TLSCA, "tls-ca", cfg.TLSCA, "PEM CA: of devices (embedded broker), or of the external broker")
			fs.BoolVar(&cfg.InsecureDevAuth, "insecure-dev-auth", cfg.InsecureDevAuth, "embedded broker: admit devices over plain TCP by their username \"tenant/device\", unverified (development only)")
			fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " serve", Problem: "takes no arguments"}
			}
			if err := cfg.Validate(); err != nil {
				return &command.UsageError{Command: binary + " serve", Problem: err.Error()}
			}
			return Serve(ctx, cfg, stdio.Stderr)
		},
	}
}

// mqtt is the gateway's side of MQTT: the embedded broker or a client of
// an external one.
type mqtt interface {
	ingest.Publisher
	Check(ctx context.Context) error
}

// Serve runs the gateway with cfg, logging to logw, until ctx ends; then
// it stops everything it started and returns nil, or the first error that
// stopped it sooner.
func Serve(ctx context.Context, cfg ServeConfig, logw io.Writer) (err error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	var (
		conn     mqtt
		embedded *broker.Broker
		client   *ingest.Client
	)
	if cfg.External() {
		ccfg := ingest.ClientConfig{URL: cfg.Broker, ClientID: cfg.ClientID, Group: cfg.Group}
		if cfg.TLSCA != "" {
			if ccfg.TLS, err = pki.ClientTLS(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey); err != nil {
				return err
			}
		}
		if client, err = ingest.NewClient(ccfg, logger.With("component", "mqtt")); err != nil {
			return err
		}
		conn = client
	} else {
		bcfg := broker.Config{Addr: cfg.MQTTListen, InsecureDevAuth: cfg.InsecureDevAuth}
		if cfg.TLSCert != "" {
			if bcfg.TLS, err = pki.ServerTLS(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA); err != nil {
				return err
			}
		}
		if embedded, err = broker.New(bcfg, logger.With("component", "broker")); err != nil {
			return err
		}
		defer embedded.Close()
		conn = embedded
		logger.Info("mqtt broker listening", "addr", embedded.Addr().String(), "tls", bcfg.TLS != nil, "insecure_dev_auth", cfg.InsecureDevAuth)
	}

	in := ingest.New(ingest.Config{Store: st, Publisher: conn, Logger: logger.With("component", "ingest")})
	handler := api.New(api.Config{
		Store:   st,
		Logger:  logger.With("component", "api"),
		Checks:  map[string]func(context.Context) error{"store": storeCheck(st), "broker": conn.Check},
		Metrics: metrics(st, in, embedded, client),
	})
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("http api listening", "addr", ln.Addr().String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return in.Run(gctx) })
	if client != nil {
		g.Go(func() error { return client.Run(gctx, in) })
	} else if err := ingest.SubscribeInline(gctx, embedded, in); err != nil {
		cancel()
		return errors.Join(err, ln.Close(), g.Wait())
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	logger.Info("gateway started", "store", storeName(cfg), "broker", brokerName(cfg))
	err = g.Wait()
	logger.Info("gateway stopped", "error", err)
	return err
}

func openStore(ctx context.Context, cfg ServeConfig, logger *slog.Logger) (store.Store, error) {
	l := logger.With("component", "store")
	if cfg.Postgres() {
		return postgres.Open(ctx, cfg.Store, l)
	}
	return sqlite.Open(ctx, cfg.Store, l)
}

func storeCheck(st store.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := st.Stats(ctx)
		return err
	}
}

// storeName is the store for logs, without a PostgreSQL password.
func storeName(cfg ServeConfig) string {
	if !cfg.Postgres() {
		return "sqlite:" + cfg.Store
	}
	u, err := url.Parse(cfg.Store)
	if err != nil {
		return "postgres"
	}
	return u.Redacted()
}

func brokerName(cfg ServeConfig) string {
	if cfg.External() {
		return cfg.Broker
	}
	return "embedded"
}
