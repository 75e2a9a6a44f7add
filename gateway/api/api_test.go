package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/api"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
)

// fleet opens a SQLite store with three devices: acme/rtr-1 (hq, tag edge,
// 23.05.2, 120 events), acme/sw-1 (branch) and globex/rtr-1 (hq).
func fleet(t *testing.T) store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, s := range []telemetry.State{
		{Tenant: "acme", DeviceID: "rtr-1", Site: "hq", Tags: []string{"edge"}, Board: "openwrt-ath79-generic", Time: at, Seq: 120,
			Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Version: "23.05.2"}}},
		{Tenant: "acme", DeviceID: "sw-1", Site: "branch", Board: "cisco-c2960", Time: at,
			Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Version: "15.2"}}},
		{Tenant: "globex", DeviceID: "rtr-1", Site: "hq", Board: "openwrt-ath79-generic", Time: at},
	} {
		if err := st.PutState(ctx, s, at); err != nil {
			t.Fatal(err)
		}
	}
	var evs []telemetry.Event
	for seq := uint64(1); seq <= 120; seq++ {
		evs = append(evs, telemetry.Event{Schema: 1, Seq: seq, Time: at, Type: telemetry.EventInfo})
	}
	if _, err := st.AddEvents(ctx, "acme", "rtr-1", evs, at); err != nil {
		t.Fatal(err)
	}
	return st
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestDevices(t *testing.T) {
	h := api.New(api.Config{Store: fleet(t), Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		path string
		code int
		want []string // tenant/id of the devices listed
	}{
		{"/api/v1/devices", 200, []string{"acme/rtr-1", "acme/sw-1", "globex/rtr-1"}},
		{"/api/v1/devices?tenant=acme", 200, []string{"acme/rtr-1", "acme/sw-1"}},
		{"/api/v1/devices?site=hq", 200, []string{"acme/rtr-1", "globex/rtr-1"}},
		{"/api/v1/devices?board=openwrt-ath79-generic&tenant=globex", 200, []string{"globex/rtr-1"}},
		{"/api/v1/devices?version=23.05.2", 200, []string{"acme/rtr-1"}},
		{"/api/v1/devices?tag=edge", 200, []string{"acme/rtr-1"}},
		{"/api/v1/devices?limit=1", 200, []string{"acme/rtr-1"}},
		{"/api/v1/devices?tenant=nobody", 200, nil},
		{"/api/v1/devices?limit=-1", 400, nil},
		{"/api/v1/devices?limit=x", 400, nil},
		{"/api/v1/devices?colour=red", 400, nil},
	}
	for _, tt := range tests {
		code, body := get(t, h, tt.path)
		if code != tt.code {
			t.Errorf("GET %s = %d %s, want %d", tt.path, code, body, tt.code)
			continue
		}
		if code != 200 {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Errorf("GET %s: body %s, want {\"error\": ...}", tt.path, body)
			}
			continue
		}
		var got struct{ Devices []store.Device }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("GET %s: %v in %s", tt.path, err, body)
		}
		var ids []string
		for _, d := range got.Devices {
			ids = append(ids, d.Tenant+"/"+d.ID)
			if d.State != nil {
				t.Errorf("GET %s: device %s/%s listed with its state", tt.path, d.Tenant, d.ID)
			}
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("GET %s devices (-want +got):\n%s", tt.path, diff)
		}
		if !strings.Contains(body, `"devices": [`) {
			t.Errorf("GET %s: body %s, want a devices array even when empty", tt.path, body)
		}
	}
}

func TestDevice(t *testing.T) {
	h := api.New(api.Config{Store: fleet(t), Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		path       string
		code       int
		firstEvent uint64
		events     int
	}{
		{"/api/v1/devices/acme/rtr-1", 200, 71, 50},
		{"/api/v1/devices/acme/rtr-1?events=5", 200, 116, 5},
		{"/api/v1/devices/acme/rtr-1?events=500", 200, 1, 120},
		{"/api/v1/devices/acme/rtr-1?events=0", 200, 0, 0},
		{"/api/v1/devices/acme/sw-1", 200, 0, 0},
		{"/api/v1/devices/acme/nobody", 404, 0, 0},
		{"/api/v1/devices/acme/rtr-1?events=x", 400, 0, 0},
		{"/api/v1/devices/acme/rtr-1?x=1", 400, 0, 0},
		{"/api/v1/devices/acme/rtr%2B1", 400, 0, 0},
		{"/api/v1/devices/acme", 404, 0, 0},
		{"/api/v1/devices/acme/rtr-1/more", 404, 0, 0},
	}
	for _, tt := range tests {
		code, body := get(t, h, tt.path)
		if code != tt.code {
			t.Errorf("GET %s = %d %s, want %d", tt.path, code, body, tt.code)
			continue
		}
		if code != 200 {
			continue
		}
		var got struct {
			Device store.Device
			Events []store.StoredEvent
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		if got.Device.State == nil {
			t.Errorf("GET %s: no state document", tt.path)
		}
		if len(got.Events) != tt.events || tt.events > 0 && got.Events[0].Event.Seq != tt.firstEvent {
			t.Errorf("GET %s: %d events, want %d from seq %d", tt.path, len(got.Events), tt.events, tt.firstEvent)
		}
		for i := 1; i < len(got.Events); i++ {
			if got.Events[i].Event.Seq != got.Events[i-1].Event.Seq+1 {
				t.Errorf("GET %s: events out of order at %d", tt.path, i)
			}
		}
	}
}

func TestNoRoute(t *testing.T) {
	h := api.New(api.Config{Store: fleet(t), Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		method, path string
		code         int
		allow        string
	}{
		{http.MethodPost, "/api/v1/devices", 405, "GET, HEAD"},
		{http.MethodDelete, "/api/v1/devices/acme/rtr-1", 405, "GET, HEAD"},
		{http.MethodGet, "/nothing", 404, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		var e struct{ Error string }
		err := json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != tt.code || err != nil || e.Error == "" || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d, Allow %q, body %q; want %d, Allow %q and a JSON error",
				tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), rec.Body, tt.code, tt.allow)
		}
	}
}

// broken fails every read.
type broken struct{ store.Store }

var errDown = errors.New("database is down")

func (broken) Devices(context.Context, store.DeviceFilter) ([]store.Device, error) {
	return nil, errDown
}
func (broken) Device(context.Context, string, string) (store.Device, error) {
	return store.Device{}, errDown
}

func TestStoreFailure(t *testing.T) {
	var logs strings.Builder
	h := api.New(api.Config{Store: broken{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, path := range []string{"/api/v1/devices", "/api/v1/devices/acme/rtr-1"} {
		code, body := get(t, h, path)
		if code != 500 || strings.Contains(body, errDown.Error()) {
			t.Errorf("GET %s = %d %s, want 500 without the store's error", path, code, body)
		}
	}
	if !strings.Contains(logs.String(), errDown.Error()) {
		t.Errorf("store error not logged; log:\n%s", logs.String())
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name   string
		broker error
		code   int
		want   string
	}{
		{"healthy", nil, 200, `{"checks":{"broker":"ok","store":"ok"},"status":"ok"}`},
		{"broker down", errors.New("not connected"), 503, `{"checks":{"broker":"not connected","store":"ok"},"status":"failing"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := api.New(api.Config{
				Store:  broken{},
				Logger: slog.New(slog.DiscardHandler),
				Checks: map[string]func(context.Context) error{
					"store":  func(context.Context) error { return nil },
					"broker": func(context.Context) error { return tt.broker },
				},
			})
			code, body := get(t, h, "/healthz")
			var got, want any
			_ = json.Unmarshal([]byte(body), &got)
			_ = json.Unmarshal([]byte(tt.want), &want)
			if code != tt.code || !cmp.Equal(got, want) {
				t.Errorf("GET /healthz = %d %s, want %d %s", code, body, tt.code, tt.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	h := api.New(api.Config{
		Store:  broken{},
		Logger: slog.New(slog.DiscardHandler),
		Metrics: func(context.Context) []api.Metric {
			return []api.Metric{
				{Name: "patchbay_ingest_events_stored_total", Help: "Events stored.", Type: api.Counter, Value: 42},
				{Name: "patchbay_broker_clients", Help: "Connected clients.\nNow.", Type: api.Gauge, Value: 3},
				{Name: "bad name", Type: api.Gauge, Value: 1},
			}
		},
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	want := `# HELP patchbay_broker_clients Connected clients.\nNow.
# TYPE patchbay_broker_clients gauge
patchbay_broker_clients 3
# HELP patchbay_ingest_events_stored_total Events stored.
# TYPE patchbay_ingest_events_stored_total counter
patchbay_ingest_events_stored_total 42
`
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("GET /metrics (-want +got):\n%s", diff)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
}
