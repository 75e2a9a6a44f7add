// Command fleetsim runs a simulated fleet (testbench/fleet) against a
// broker: every device connects with its own MQTT connection, announces
// itself, sends its events and waits until the gateway acknowledges them,
// then stays connected for -hold before the fleet disconnects.
//
// With -measure-pid it measures the memory another process (a gateway with
// its embedded broker) spends on the connected fleet: that process's
// resident set before the fleet connects and once every device's events
// are acknowledged and -settle has passed, and the difference per device.
// Running the fleet in its own process keeps its memory out of the figure.
//
// Progress goes to standard error; the result to standard output, as text
// or with -json as JSON.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"patchbay.dev/testbench/fleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// result is what a run did and measured.
type result struct {
	Fleet       fleet.Stats `json:"fleet"`
	ReadySecond float64     `json:"ready_seconds"` // until every device's events were acknowledged
	// Memory of the -measure-pid process, in KiB.
	PID            int     `json:"pid,omitempty"`
	RSSBeforeKiB   int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB    int64   `json:"rss_after_kib,omitempty"`
	PerDeviceKiB   float64 `json:"rss_per_device_kib,omitempty"`
	ThreadsAfter   int64   `json:"threads_after,omitempty"`
	MeasuredAtSecs float64 `json:"measured_at_seconds,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg              fleet.Config
		devAuth, asJSON  bool
		hold, settle     time.Duration
		timeout          time.Duration
		measurePID       int
		logLevel         string
		sites, boards    string
		versions         string
		progressInterval = 2 * time.Second
	)
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.BrokerURL, "broker", "tcp://127.0.0.1:8883", "broker URL")
	fs.StringVar(&cfg.Tenant, "tenant", "sim", "tenant of every device")
	fs.StringVar(&cfg.Prefix, "prefix", "dev-", "device id prefix (ids are the prefix and a 5-digit number)")
	fs.IntVar(&cfg.Devices, "devices", 100, "devices, each with its own connection")
	fs.IntVar(&cfg.Events, "events", 1, "events per device")
	fs.DurationVar(&cfg.Interval, "interval", 0, "pause between a device's events")
	fs.IntVar(&cfg.Payload, "payload", 64, "bytes of padding in each event's message")
	fs.DurationVar(&cfg.ResendAfter, "resend-after", fleet.DefaultResendAfter, "a device whose ack did not move for this long sends its unacknowledged events again")
	fs.DurationVar(&cfg.Connect, "connect", 10*time.Second, "spread the connections over this long")
	fs.StringVar(&sites, "sites", "hq,branch-1,branch-2", "comma-separated sites, given round robin")
	fs.StringVar(&boards, "boards", "openwrt-ath79-generic,generic-entity-mib", "comma-separated boards, given round robin")
	fs.StringVar(&versions, "versions", "23.05.2,23.05.3", "comma-separated firmware versions, given round robin")
	fs.BoolVar(&devAuth, "dev-auth", true, "send the username \"tenant/device\" that the embedded broker's --insecure-dev-auth wants")
	fs.DurationVar(&hold, "hold", 0, "stay connected this long once every event is acknowledged")
	fs.DurationVar(&settle, "settle", 5*time.Second, "with -measure-pid: wait this long after the last ack before measuring")
	fs.IntVar(&measurePID, "measure-pid", 0, "measure the resident memory of this process (Linux /proc)")
	fs.DurationVar(&timeout, "timeout", 10*time.Minute, "bound of the whole run")
	fs.StringVar(&logLevel, "log-level", "error", "debug, info, warn or error")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: want debug, info, warn or error", logLevel)
	}
	cfg.Sites, cfg.Boards, cfg.Versions = split(sites), split(boards), split(versions)
	if devAuth {
		cfg.Username = fleet.DevUsername
	}
	cfg.Stay = true
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res result
	if measurePID != 0 {
		res.PID = measurePID
		mem, err := readMemory(measurePID)
		if err != nil {
			return err
		}
		res.RSSBeforeKiB = mem.rssKiB
	}

	began := time.Now()
	fctx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	var counters fleet.Counters
	type outcome struct {
		st  fleet.Stats
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		st, err := fleet.Run(fctx, cfg, &counters, log)
		done <- outcome{st, err}
	}()

	// Wait until every device's events are acknowledged.
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for ready := false; !ready; {
		select {
		case o := <-done: // only when something went wrong: the devices stay
			if o.err == nil {
				o.err = errors.New("fleet stopped before every event was acknowledged")
			}
			return o.err
		case <-ctx.Done():
			stopFleet()
			o := <-done
			return fmt.Errorf("not every event acknowledged within %v: %+v: %w", timeout, o.st, errors.Join(o.err, ctx.Err()))
		case <-tick.C:
			s := counters.Snapshot()
			fmt.Fprintf(stderr, "%5.0fs: %d connected, %d online, %d events published, %d acknowledged, %d devices done\n",
				time.Since(began).Seconds(), s.Connected, s.Online, s.Published, s.Acked, s.Done)
			ready = s.Done == int64(cfg.Devices)
		}
	}
	res.ReadySecond = time.Since(began).Seconds()
	fmt.Fprintf(stderr, "every event acknowledged after %.1f s\n", res.ReadySecond)

	if measurePID != 0 {
		if err := sleep(ctx, settle); err != nil {
			return err
		}
		mem, err := readMemory(measurePID)
		if err != nil {
			return err
		}
		res.RSSAfterKiB, res.ThreadsAfter = mem.rssKiB, mem.threads
		res.PerDeviceKiB = float64(res.RSSAfterKiB-res.RSSBeforeKiB) / float64(cfg.Devices)
		res.MeasuredAtSecs = time.Since(began).Seconds()
		hold = max(0, hold-settle)
	}
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	stopFleet()
	o := <-done
	if o.err != nil {
		return o.err
	}
	res.Fleet = o.st
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	s := res.Fleet
	fmt.Fprintf(stdout, "%d devices connected, %d events published (%d re-sent), %d acknowledged; ready after %.1f s\n",
		s.Devices, s.Published, s.Resent, s.Acked, res.ReadySecond)
	if res.PID != 0 {
		fmt.Fprintf(stdout, "process %d: RSS %d KiB before, %d KiB with the fleet connected (%d threads): %.1f KiB per device\n",
			res.PID, res.RSSBeforeKiB, res.RSSAfterKiB, res.ThreadsAfter, res.PerDeviceKiB)
	}
	return nil
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// memory is what /proc/PID/status says of a process.
type memory struct {
	rssKiB  int64
	threads int64
}

// readMemory reads VmRSS and Threads from /proc/pid/status.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("measure process %d: %w (Linux /proc is needed)", pid, err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rssKiB = n
		case "Threads":
			m.threads = n
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("measure process %d: %w", pid, err)
	}
	if m.rssKiB == 0 {
		return memory{}, fmt.Errorf("measure process %d: no VmRSS in /proc/%d/status", pid, pid)
	}
	return m, nil
}
