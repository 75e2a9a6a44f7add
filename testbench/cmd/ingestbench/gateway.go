package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
)

// gatewayClientID is the benchmark gateway's session on the broker.
const gatewayClientID = "ingestbench-gateway"

// ingestResult is how fast the gateway stored and acknowledged the load.
type ingestResult struct {
	Devices int `json:"devices"`
	Events  int `json:"events"`
	// Seconds runs from the first publish to the last device's final ack,
	// PerSecond is Events over it.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"events_per_second"`
	// Sustained is the store rate between 10 % and 90 % of the events,
	// from the ingester's counter sampled every 100 ms.
	Sustained float64    `json:"sustained_events_per_second"`
	Load      loadResult `json:"load"`
	// Counters are the ingester's at the end.
	Counters ingest.Counters `json:"ingest_counters"`
	// CPU seconds during the run: the broker's, and this process's
	// (gateway and load generator together; a profile tells them apart).
	BrokerCPU float64 `json:"broker_cpu_seconds,omitempty"`
	SelfCPU   float64 `json:"self_cpu_seconds,omitempty"`
}

// measureIngest runs a gateway (gateway/ingest Client and Ingester, SQLite
// store in dir) on m, sends it the load, waits until every event is
// acknowledged, and checks that the store holds each device's events
// 1..events.
func measureIngest(ctx context.Context, m *mosquitto, dir string, cfg loadConfig, maxBatch int, cpuProfile string, logw io.Writer) (ingestResult, error) {
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(ctx, filepath.Join(dir, "fleet.db"), logger)
	if err != nil {
		return ingestResult{}, err
	}
	defer st.Close()
	client, err := ingest.NewClient(ingest.ClientConfig{URL: m.url, ClientID: gatewayClientID}, logger)
	if err != nil {
		return ingestResult{}, err
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: client, Logger: logger, MaxBatch: maxBatch})
	gctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { in.Run(gctx) })
	wg.Go(func() { client.Run(gctx, in) })
	if err := m.waitLog(ctx, gatewayClientID+" 1 $share/"+ingest.DefaultGroup+"/pb/v1/+/+/events", 10*time.Second); err != nil {
		return ingestResult{}, fmt.Errorf("gateway did not subscribe: %w", err)
	}

	l, err := connectLoad(ctx, cfg)
	if err != nil {
		return ingestResult{}, err
	}
	defer l.disconnect()

	total := int64(cfg.devices * cfg.events)
	broker0, haveCPU := cpuTime(m.pid())
	self0, _ := cpuTime(os.Getpid())
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return ingestResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return ingestResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	samples := make(chan []sample, 1)
	sctx, stopSampling := context.WithCancel(ctx)
	go func() { samples <- sampleStored(sctx, in) }()
	lr, err := l.run(ctx)
	stopSampling()
	series := <-samples
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return ingestResult{}, fmt.Errorf("load: %w (ingester: %+v)", err, in.Counters())
	}
	r := ingestResult{
		Devices:   cfg.devices,
		Events:    int(total),
		Seconds:   lr.AckSeconds,
		PerSecond: float64(total) / lr.AckSeconds,
		Sustained: sustained(series, l.start, total),
		Load:      lr,
		Counters:  in.Counters(),
	}
	if haveCPU {
		broker1, _ := cpuTime(m.pid())
		self1, _ := cpuTime(os.Getpid())
		r.BrokerCPU, r.SelfCPU = (broker1 - broker0).Seconds(), (self1 - self0).Seconds()
	}
	if l.badAcks.Load() > 0 {
		return r, fmt.Errorf("%d acks unreadable", l.badAcks.Load())
	}
	return r, checkStore(ctx, st, cfg)
}

// sample is the ingester's stored counter at a time.
type sample struct {
	at     time.Time
	stored int64
}

// sampleStored samples the ingester's stored counter every 100 ms until
// ctx ends.
func sampleStored(ctx context.Context, in *ingest.Ingester) []sample {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var out []sample
	for {
		out = append(out, sample{time.Now(), in.Counters().Stored})
		select {
		case <-ctx.Done():
			return append(out, sample{time.Now(), in.Counters().Stored})
		case <-tick.C:
		}
	}
}

// sustained is the rate between the samples where 10 % and 90 % of total
// were stored; 0 when the run was too short to tell.
func sustained(series []sample, start time.Time, total int64) float64 {
	var from, to *sample
	for i := range series {
		s := &series[i]
		if s.at.Before(start) {
			continue
		}
		if from == nil && s.stored >= total/10 {
			from = s
		}
		if to == nil && s.stored >= total*9/10 {
			to = s
		}
	}
	if from == nil || to == nil || !to.at.After(from.at) {
		return 0
	}
	return float64(to.stored-from.stored) / to.at.Sub(from.at).Seconds()
}

// checkStore checks that the store holds every device with all its events
// acknowledged, and no other events.
func checkStore(ctx context.Context, st store.Store, cfg loadConfig) error {
	s, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	want := store.Stats{Devices: int64(cfg.devices), Events: int64(cfg.devices * cfg.events)}
	if s != want {
		return fmt.Errorf("store holds %+v, want %+v", s, want)
	}
	devs, err := st.Devices(ctx, store.DeviceFilter{Tenant: cfg.tenant})
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devs {
		if d.AckSeq != uint64(cfg.events) && len(errs) < 5 {
			errs = append(errs, fmt.Errorf("device %s: ack %d, want %d", d.ID, d.AckSeq, cfg.events))
		}
	}
	return errors.Join(errs...)
}
