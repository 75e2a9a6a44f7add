package report

import (
	"context"
	"errors"
	"testing"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/testbench/services"
)

func TestRoundtrip(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, resendAfter: 500 * time.Millisecond})

	// No gateway acknowledges: the round trip must fail by its deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	err := a.r.Roundtrip(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Roundtrip with no gateway = %v, want a deadline error", err)
	}

	// A gateway that stores and acknowledges: the round trip succeeds.
	startGateway(t, broker.URL, nil, true)
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := a.r.Roundtrip(ctx); err != nil {
		t.Fatalf("Roundtrip with an acknowledging gateway = %v", err)
	}
}
