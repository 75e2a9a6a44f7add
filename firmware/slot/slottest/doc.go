// Package slottest is the conformance suite every slot backend passes, as
// testing/slogtest is for slog handlers: write and read back, short and
// over-long images, images larger than the slot, failing storage,
// interrupted and cancelled writes, invalidation, and misuse of a
// finished Writer.
//
// A backend's test calls Run with a function that returns a fresh, empty
// slot for each subtest, and, where the backend can, a way to make its
// storage fail. The suite is for tests only.
package slottest
