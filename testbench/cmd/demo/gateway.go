package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const (
	// gatewayAttempts is how often the gateway is started on new ports: a
	// port found free can be taken by someone else before the gateway
	// binds it.
	gatewayAttempts = 5
	// gatewayReady bounds how long the gateway may take to answer
	// /healthz.
	gatewayReady = 30 * time.Second
)

// gateway is the running patchbay-gateway.
type gateway struct {
	proc    *child
	api     string // http://127.0.0.1:PORT
	mqttURL string // tcp://127.0.0.1:PORT
}

// startGateway runs the real gateway with its embedded broker
// (--insecure-dev-auth) and SQLite store in dir/gateway, on free ports of
// 127.0.0.1, and waits until /healthz says it is healthy.
func (s *story) startGateway(ctx context.Context) (*gateway, error) {
	dir := filepath.Join(s.o.dir, "gateway")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "gateway.log")
	var errs []error
	for range gatewayAttempts {
		mqttPort, err1 := freePort()
		httpPort, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		mqttAddr := "127.0.0.1:" + strconv.Itoa(mqttPort)
		g := &gateway{api: "http://127.0.0.1:" + strconv.Itoa(httpPort), mqttURL: "tcp://" + mqttAddr}
		argv := []string{s.bin("patchbay-gateway"), "serve",
			"--store", filepath.Join(dir, "patchbay.db"),
			"--mqtt-listen", mqttAddr,
			"--http-listen", "127.0.0.1:" + strconv.Itoa(httpPort),
			"--insecure-dev-auth",
		}
		proc, err := s.procs.start("patchbay-gateway", logPath, argv)
		if err != nil {
			return nil, err
		}
		g.proc = proc
		err = waitHealthy(ctx, g)
		if err == nil {
			return g, nil
		}
		if stopErr := proc.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("the gateway did not start (log %s): %w\n%s", logPath, errors.Join(errs...), tail(logPath, 2<<10))
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy polls /healthz until every check of the gateway passes, the
// gateway exits or gatewayReady passes.
func waitHealthy(ctx context.Context, g *gateway) error {
	ctx, cancel := context.WithTimeout(ctx, gatewayReady)
	defer cancel()
	var last error
	for {
		last = healthz(ctx, g.api)
		if last == nil {
			return nil
		}
		select {
		case <-g.proc.done:
			return fmt.Errorf("the gateway exited (%v) before it was healthy", g.proc.err)
		case <-ctx.Done():
			return fmt.Errorf("the gateway was not healthy within %s: %w", gatewayReady, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func healthz(ctx context.Context, api string) error {
	var h struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := getJSON(ctx, api+"/healthz", &h); err != nil {
		return err
	}
	if h.Status != "ok" || h.Checks["broker"] != "ok" || h.Checks["store"] != "ok" {
		return fmt.Errorf("/healthz says %s: %v", h.Status, h.Checks)
	}
	return nil
}

// httpClient is the demo's client of the gateway's API; it uses no proxy.
var httpClient = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}

// errNotFound is a 404 from the API.
var errNotFound = errors.New("not found")

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("GET %s: %w", url, errNotFound)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable:
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
