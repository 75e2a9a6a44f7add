// Command ingestbench measures how fast a Patchbay gateway ingests device
// events through mosquitto into SQLite, next to what the broker itself
// can carry, in one run on one machine.
//
// It starts its own mosquitto on 127.0.0.1, configured as docs/gateway.md
// asks of a gateway's broker (QoS 1 messages never dropped,
// max_inflight_messages -max-inflight, nothing logged per message), then:
//
//  1. ceiling: several mosquitto_pub -l processes publish messages of an
//     event's CBOR size at QoS 1 on device topics, and one mosquitto_sub
//     takes them at QoS 1 from a shared subscription, as the gateway does;
//     the rate is messages over the time until mosquitto_sub has them all;
//  2. ingest: a gateway (gateway/ingest Client with its shared
//     subscription and manual acks, Ingester, SQLite store in a temporary
//     directory) takes the events of -devices simulated devices, each with
//     its own id and topics and numbering its events from 1, published at
//     QoS 1 over -connections shared connections; the rate is events over
//     the time from the first publish until every device's retained ack
//     covers all its events. The store is then checked to hold every event
//     once.
//
// It prints the two rates and their ratio, as text or with -json as JSON.
// Every phase is bounded by -timeout; all traffic stays on 127.0.0.1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"patchbay.dev/gateway/ingest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

// defaultMaxInflight is the max_inflight_messages docs/gateway.md asks of
// the gateway's mosquitto: at least twice the ingester's MaxBatch.
const defaultMaxInflight = 4 * ingest.DefaultMaxBatch

// options are the command line.
type options struct {
	devices, events, connections, inFlight, payload int
	burst                                           bool
	maxBatch                                        int
	maxInflight                                     int
	ceilingMessages, publishers                     int
	skipCeiling                                     bool
	resendAfter, timeout                            time.Duration
	cpuProfile                                      string
	json                                            bool
}

// result is what a run measured.
type result struct {
	GoVersion  string        `json:"go_version"`
	CPUs       int           `json:"cpus"`
	Devices    int           `json:"devices"`
	Events     int           `json:"events_per_device"`
	Conns      int           `json:"connections"`
	Pattern    string        `json:"pattern"`
	Ceiling    ceilingResult `json:"ceiling"`
	Ingest     ingestResult  `json:"ingest"`
	Ratio      float64       `json:"ratio"` // ingest events/s over ceiling messages/s
	PayloadLen int           `json:"event_bytes"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("ingestbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.devices, "devices", 10_000, "simulated devices, each with its own id")
	fs.IntVar(&o.events, "events", 10, "events per device")
	fs.IntVar(&o.connections, "connections", 50, "load generator connections the devices share")
	fs.IntVar(&o.inFlight, "inflight", 64, "publishes per load connection before their PUBACKs are awaited")
	fs.IntVar(&o.payload, "payload", 64, "bytes of padding in each event's message")
	fs.BoolVar(&o.burst, "burst", false, "send each device's events back to back instead of round by round over all devices")
	fs.IntVar(&o.maxBatch, "max-batch", 0, "the ingester's MaxBatch (0: its default)")
	fs.IntVar(&o.maxInflight, "max-inflight", defaultMaxInflight, "mosquitto's max_inflight_messages, as docs/gateway.md asks of the gateway's broker (0: mosquitto's default, 20)")
	fs.IntVar(&o.ceilingMessages, "ceiling-messages", 0, "messages of the broker ceiling run (0: as many as events)")
	fs.IntVar(&o.publishers, "publishers", 4, "mosquitto_pub processes of the ceiling run")
	fs.BoolVar(&o.skipCeiling, "skip-ceiling", false, "measure the ingest only")
	fs.DurationVar(&o.resendAfter, "resend-after", 2*time.Minute, "a device whose ack did not move for this long sends its unacknowledged events again")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound of the whole run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the ingest phase to this file")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.devices < 1 || o.events < 1 || o.connections < 1 || o.inFlight < 1 || o.payload < 0 || o.publishers < 1 || o.maxInflight < 0 || o.resendAfter <= 0 {
		return errors.New("-devices, -events, -connections, -inflight and -publishers must be at least 1, -resend-after positive; -payload and -max-inflight not negative")
	}
	o.connections = min(o.connections, o.devices)
	if o.ceilingMessages == 0 {
		o.ceilingMessages = o.devices * o.events
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "ingestbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := startMosquitto(ctx, dir, o.maxInflight)
	if err != nil {
		return err
	}
	defer m.stop()

	sample, err := eventPayload(uint64(o.events), time.Now().UTC(), string(make([]byte, o.payload)))
	if err != nil {
		return err
	}
	res := result{
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Devices: o.devices, Events: o.events, Conns: o.connections, Pattern: "round-robin", PayloadLen: len(sample),
	}
	if o.burst {
		res.Pattern = "burst"
	}
	if !o.skipCeiling {
		fmt.Fprintf(stderr, "ceiling: %d messages of %d bytes, %d mosquitto_pub -l → mosquitto_sub, QoS 1\n", o.ceilingMessages, len(sample), o.publishers)
		if res.Ceiling, err = measureCeiling(ctx, m, o.ceilingMessages, o.publishers, len(sample)); err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
	}
	fmt.Fprintf(stderr, "ingest: %d devices × %d events over %d connections (%s)\n", o.devices, o.events, o.connections, res.Pattern)
	cfg := loadConfig{
		brokerURL: m.url, tenant: "bench", devices: o.devices, events: o.events, connections: o.connections,
		inFlight: o.inFlight, payload: o.payload, burst: o.burst, resendAfter: o.resendAfter,
	}
	if res.Ingest, err = measureIngest(ctx, m, dir, cfg, o.maxBatch, o.cpuProfile, stderr); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if res.Ceiling.PerSecond > 0 {
		res.Ratio = res.Ingest.PerSecond / res.Ceiling.PerSecond
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(stdout, res)
	return nil
}

func printResult(w io.Writer, r result) {
	fmt.Fprintf(w, "machine: %d CPUs, %s\n", r.CPUs, r.GoVersion)
	if c := r.Ceiling; c.Messages > 0 {
		fmt.Fprintf(w, "broker ceiling: %d messages of %d bytes in %.2f s = %.0f messages/s (mosquitto CPU %.1f s)\n",
			c.Messages, c.Bytes, c.Seconds, c.PerSecond, c.BrokerCPU)
	}
	i := r.Ingest
	fmt.Fprintf(w, "ingest: %d devices × %d events = %d events (%d bytes each, %s) in %.2f s = %.0f events/s, sustained %.0f events/s\n",
		r.Devices, r.Events, i.Events, r.PayloadLen, r.Pattern, i.Seconds, i.PerSecond, i.Sustained)
	fmt.Fprintf(w, "        publishing took %.2f s; %d re-sent; %d acks published; mosquitto CPU %.1f s, gateway+load CPU %.1f s\n",
		i.Load.PublishSeconds, i.Load.Resent, i.Counters.AcksPublished, i.BrokerCPU, i.SelfCPU)
	if r.Ratio > 0 {
		fmt.Fprintf(w, "ratio ingest / ceiling: %.2f\n", r.Ratio)
	}
}
