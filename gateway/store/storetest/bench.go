package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"patchbay.dev/gateway/store"
)

// Benchmark sizes: the fleet an AddEvents benchmark spreads its batches
// over, and the events in one batch.
const (
	BenchDevices = 10_000
	BenchBatch   = 100
)

// BenchmarkAddEvents measures AddEvents with batches of BenchBatch events
// spread round-robin over BenchDevices devices (so the first BenchDevices
// batches also create their devices), from one goroutine and from several,
// and reports events/s. open returns a store on a new, empty database.
func BenchmarkAddEvents(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("serial", func(b *testing.B) {
		s := open(b)
		var n int
		for b.Loop() {
			addBatch(b, s, n)
			n++
		}
		b.ReportMetric(float64(n*BenchBatch)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("parallel", func(b *testing.B) {
		s := open(b)
		var next atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				addBatch(b, s, int(next.Add(1)-1))
			}
		})
		b.ReportMetric(float64(b.N*BenchBatch)/b.Elapsed().Seconds(), "events/s")
	})
}

// addBatch stores the nth batch: events round*BenchBatch+1… of device
// n%BenchDevices.
func addBatch(b *testing.B, s store.Store, n int) {
	device := fmt.Sprintf("dev-%05d", n%BenchDevices)
	from := uint64(n/BenchDevices)*BenchBatch + 1
	ack, err := s.AddEvents(b.Context(), "acme", device, newEvents(seqRange(from, from+BenchBatch-1)...), at(n))
	if err != nil {
		b.Errorf("AddEvents(%s, %d…) = %v", device, from, err)
		return
	}
	if want := from + BenchBatch - 1; ack != want && n < BenchDevices {
		b.Errorf("AddEvents(%s, %d…) = %d, want %d", device, from, ack, want)
	}
}

// BatchSize is the entries in one AddEventBatch of BenchmarkAddEventBatch:
// the ingester's default MaxBatch.
const BatchSize = 2048

// BenchmarkAddEventBatch measures AddEventBatch as the ingester calls it
// for a fleet: batches of BatchSize entries of one event each, from
// different devices of BenchDevices round robin (so the first batches
// also create their devices), and reports events/s.
func BenchmarkAddEventBatch(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	var n int
	for b.Loop() {
		batch := make([]store.DeviceEvents, BatchSize)
		for i := range batch {
			d := n*BatchSize + i
			seq := uint64(d/BenchDevices) + 1
			batch[i] = store.DeviceEvents{Tenant: "acme", Device: fmt.Sprintf("dev-%05d", d%BenchDevices), Events: newEvents(seq)}
		}
		res, err := s.AddEventBatch(b.Context(), batch, at(n))
		if err != nil {
			b.Fatalf("AddEventBatch(batch %d) = %v", n, err)
		}
		for i, r := range res {
			if want := batch[i].Events[0].Seq; r.Err != nil || r.Ack != want || r.New != 1 {
				b.Fatalf("AddEventBatch(batch %d): %s: %+v, want ack %d, 1 new", n, batch[i].Device, r, want)
			}
		}
		n++
	}
	b.ReportMetric(float64(n*BatchSize)/b.Elapsed().Seconds(), "events/s")
}
