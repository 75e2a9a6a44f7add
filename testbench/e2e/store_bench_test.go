package e2e

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store/sqlite"
)

// BenchmarkAddEventsPerCall measures the SQLite store's per-device call:
// one AddEvents call (one write transaction, one fsync of the WAL) with a
// device's events. The sub-benchmarks show how the rate grows with the
// events one transaction carries, which is why the ingester stores a
// whole batch of many devices with one AddEventBatch call instead.
func BenchmarkAddEventsPerCall(b *testing.B) {
	const devices = 10_000
	for _, perCall := range []int{1, 4, 16, 64, 256} {
		b.Run(fmt.Sprintf("events=%d", perCall), func(b *testing.B) {
			st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "fleet.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			now := time.Now().UTC()
			evs := make([]telemetry.Event, perCall)
			n := 0
			for b.Loop() {
				device := fmt.Sprintf("dev-%05d", n%devices)
				first := uint64(n/devices*perCall) + 1
				for i := range evs {
					evs[i] = telemetry.Event{Seq: first + uint64(i), Time: now, Type: telemetry.EventInfo, Message: "simulated event"}
				}
				if _, err := st.AddEvents(b.Context(), "bench", device, evs, now); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*perCall)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
