// Package storetest is the conformance suite every store.Store
// implementation runs, as testing/slogtest is for slog handlers: Run checks
// the contract's behaviour (state ordering, idempotent events and their
// acknowledgement, filters, paging, concurrency, and the batch methods:
// the same results as single calls, invalid entries refused on their own,
// concurrent batches that cannot deadlock), RunReopen checks that data
// survives Close, and BenchmarkAddEvents and BenchmarkAddEventBatch
// measure ingest throughput.
//
// It is not a fake store and does not start databases; each
// implementation's tests pass functions that open its store on a new,
// empty database (a file in t.TempDir, a PostgreSQL database from
// testbench/services). Times in the suite are whole microseconds, the
// precision stores keep.
package storetest
