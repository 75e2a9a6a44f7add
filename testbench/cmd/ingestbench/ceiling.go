package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// ceilingResult is the broker's own rate: mosquitto's command-line
// clients, publishing and subscribing at QoS 1.
type ceilingResult struct {
	Messages   int     `json:"messages"`
	Publishers int     `json:"publishers"`
	Bytes      int     `json:"payload_bytes"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"messages_per_second"`
	BrokerCPU  float64 `json:"broker_cpu_seconds,omitempty"`
}

// measureCeiling sends n messages of size bytes through m with
// `publishers` mosquitto_pub processes (-l: one message per line of their
// standard input, pipelined, QoS 1) on device-like topics to one
// mosquitto_sub (QoS 1, a shared subscription like the gateway's, -C n),
// and times from the first publisher's start to the subscriber's exit.
func measureCeiling(ctx context.Context, m *mosquitto, n, publishers, size int) (ceilingResult, error) {
	pubBin, err := lookBinary("mosquitto_pub", "mosquitto-clients")
	if err != nil {
		return ceilingResult{}, err
	}
	subBin, err := lookBinary("mosquitto_sub", "mosquitto-clients")
	if err != nil {
		return ceilingResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	host, port := "127.0.0.1", m.addr[len("127.0.0.1:"):]
	const filter = "$share/ceiling/pb/v1/+/+/events"
	sub := exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-i", "ceiling-sub", "-q", "1",
		"-t", filter, "-C", strconv.Itoa(n), "-N", "--quiet")
	var subErr bytes.Buffer
	sub.Stderr = &subErr
	sub.SysProcAttr = childAttr()
	sub.WaitDelay = time.Second
	if err := sub.Start(); err != nil {
		return ceilingResult{}, fmt.Errorf("start mosquitto_sub: %w", err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Wait() }()
	if err := m.waitLog(ctx, "ceiling-sub 1 "+filter, 10*time.Second); err != nil {
		cancel()
		<-subDone
		return ceilingResult{}, fmt.Errorf("mosquitto_sub did not subscribe: %w; its errors: %s", err, subErr.String())
	}

	// A line of the size of an event's CBOR: -l sends each line as it is,
	// and CBOR may hold newline bytes.
	line := append(bytes.Repeat([]byte{'x'}, size), '\n')
	cpu0, haveCPU := cpuTime(m.pid())
	start := time.Now()
	pubDone := make(chan error, publishers)
	for p := range publishers {
		count := n / publishers
		if p < n%publishers {
			count++
		}
		pub := exec.CommandContext(ctx, pubBin, "-h", host, "-p", port, "-i", fmt.Sprintf("ceiling-pub-%d", p), "-q", "1",
			"-t", fmt.Sprintf("pb/v1/ceiling/dev-%d/events", p), "-l")
		pub.Stdin = bytes.NewReader(bytes.Repeat(line, count))
		pub.SysProcAttr = childAttr()
		pub.WaitDelay = time.Second
		var pubErr bytes.Buffer
		pub.Stderr = &pubErr
		if err := pub.Start(); err != nil {
			cancel()
			<-subDone
			return ceilingResult{}, fmt.Errorf("start mosquitto_pub: %w", err)
		}
		go func() {
			err := pub.Wait()
			if err != nil {
				err = fmt.Errorf("mosquitto_pub %d: %w: %s", p, err, pubErr.String())
			}
			pubDone <- err
		}()
	}
	var errs []error
	select {
	case err := <-subDone:
		if err != nil {
			errs = append(errs, fmt.Errorf("mosquitto_sub: %w: %s", err, subErr.String()))
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("mosquitto_sub: %d messages not received: %w", n, ctx.Err()))
	}
	elapsed := time.Since(start)
	cpu1, _ := cpuTime(m.pid())
	if len(errs) > 0 {
		cancel() // the publishers too
	}
	for range publishers {
		if err := <-pubDone; err != nil && ctx.Err() == nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		cancel()
		return ceilingResult{}, err
	}
	r := ceilingResult{Messages: n, Publishers: publishers, Bytes: size, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds()}
	if haveCPU {
		r.BrokerCPU = (cpu1 - cpu0).Seconds()
	}
	return r, nil
}
