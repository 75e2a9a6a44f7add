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

// BenchmarkAddEventsPerCall measures what the ingester asks of the SQLite
// store for each device in a batch: one AddEvents call (one write
// transaction, one fsync of the WAL) with that device's events of the
// batch. From a fleet of many devices each reporting now and then, a batch
// holds about one event per device; the sub-benchmarks show how the rate
// grows with the events one transaction carries, which is what storing a
// whole batch of many devices in one transaction would gain.
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
