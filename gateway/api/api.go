package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// DefaultRecentEvents is how many events a device's page shows unless
// ?events= says otherwise.
const DefaultRecentEvents = 50

// Store is what the API reads.
type Store interface {
	Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error)
	Device(ctx context.Context, tenant, device string) (store.Device, error)
	Events(ctx context.Context, tenant, device string, after uint64, limit int) ([]store.StoredEvent, error)
}

// Config is what the handler serves.
type Config struct {
	Store Store
	// Checks are what /healthz runs, by name ("store", "broker"): each
	// returns nil when healthy.
	Checks map[string]func(context.Context) error
	// Metrics returns the samples /metrics shows; nil for none.
	Metrics func(context.Context) []Metric
	Logger  *slog.Logger
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices", a.devices)
	mux.HandleFunc("GET /api/v1/devices/{tenant}/{id}", a.device)
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /metrics", a.metrics)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// The mux answers 404 or 405 (with Allow) in plain text.
			w = &jsonError{ResponseWriter: w, path: r.URL.Path}
		}
		mux.ServeHTTP(w, r)
	})
}

type api struct{ cfg Config }

// jsonError turns the mux's plain-text errors into the API's JSON ones.
type jsonError struct {
	http.ResponseWriter
	path  string
	wrote bool
}

func (e *jsonError) WriteHeader(code int) {
	e.Header().Set("Content-Type", "application/json")
	e.Header().Del("X-Content-Type-Options")
	e.ResponseWriter.WriteHeader(code)
}

func (e *jsonError) Write(b []byte) (int, error) {
	if !e.wrote {
		e.wrote = true
		msg := fmt.Sprintf("%s: %s", e.path, strings.ToLower(strings.TrimSpace(string(b))))
		enc := json.NewEncoder(e.ResponseWriter)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Error string `json:"error"`
		}{msg})
	}
	return len(b), nil
}

func (a *api) devices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, "tenant", "site", "board", "version", "tag", "limit"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := store.DeviceFilter{
		Tenant: q.Get("tenant"), Site: q.Get("site"), Board: q.Get("board"),
		Version: q.Get("version"), Tag: q.Get("tag"),
	}
	var err error
	if f.Limit, err = intParam(q, "limit", 0, 0); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	devs, err := a.cfg.Store.Devices(r.Context(), f)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	for i := range devs {
		devs[i].State = nil // one device's page has it
	}
	if devs == nil {
		devs = []store.Device{}
	}
	writeJSON(w, http.StatusOK, struct {
		Devices []store.Device `json:"devices"`
	}{devs})
}

func (a *api) device(w http.ResponseWriter, r *http.Request) {
	tenant, id := r.PathValue("tenant"), r.PathValue("id")
	if !telemetry.ValidID(tenant) || !telemetry.ValidID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("device %q of tenant %q: tenant and id are 1-128 letters, digits, '.', '_' or '-'", id, tenant))
		return
	}
	q := r.URL.Query()
	if err := onlyParams(q, "events"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, err := intParam(q, "events", DefaultRecentEvents, store.MaxEventsLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	dev, err := a.cfg.Store.Device(r.Context(), tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("device %s/%s not found", tenant, id))
		return
	}
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	events, err := a.recentEvents(r.Context(), dev, n)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.storeFailed(w, r, err)
		return
	}
	if events == nil {
		events = []store.StoredEvent{}
	}
	writeJSON(w, http.StatusOK, struct {
		Device store.Device        `json:"device"`
		Events []store.StoredEvent `json:"events"`
	}{dev, events})
}

// recentEvents returns the device's last n events, oldest first. It
// starts n below the highest sequence number the device is known to have
// used, and pages through anything above it.
func (a *api) recentEvents(ctx context.Context, dev store.Device, n int) ([]store.StoredEvent, error) {
	if n == 0 {
		return nil, nil
	}
	top := dev.AckSeq
	if dev.State != nil {
		top = max(top, dev.State.Seq)
	}
	after := uint64(0)
	if top > uint64(n) {
		after = top - uint64(n)
	}
	var out []store.StoredEvent
	for {
		page, err := a.cfg.Store.Events(ctx, dev.Tenant, dev.ID, after, store.MaxEventsLimit)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(out) > n {
			out = slices.Clone(out[len(out)-n:])
		}
		if len(page) < store.MaxEventsLimit {
			return out, nil
		}
		after = page[len(page)-1].Event.Seq
	}
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	status, code := "ok", http.StatusOK
	for name, check := range a.cfg.Checks {
		if err := check(r.Context()); err != nil {
			checks[name] = err.Error()
			status, code = "failing", http.StatusServiceUnavailable
			continue
		}
		checks[name] = "ok"
	}
	writeJSON(w, code, struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}{status, checks})
}

func (a *api) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, "the fleet store failed; see the gateway's log")
}

// onlyParams refuses query parameters other than known ones.
func onlyParams(q url.Values, known ...string) error {
	for k := range q {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown query parameter %q (want %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// intParam reads a non-negative integer parameter, def when absent, at
// most upTo when upTo > 0.
func intParam(q url.Values, name string, def, upTo int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("query parameter %s=%q: want a whole number, 0 or more", name, s)
	}
	if upTo > 0 {
		n = min(n, upTo)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}
