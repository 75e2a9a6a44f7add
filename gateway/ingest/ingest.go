package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// Kinds are the topic kinds the gateway ingests.
var Kinds = []telemetry.Kind{telemetry.KindStatus, telemetry.KindState, telemetry.KindEvents}

// ErrStopped is returned by Deliver once Run has returned.
var ErrStopped = errors.New("ingester stopped")

// Defaults of Config.
const (
	// DefaultMaxBatch is large because each batch costs a commit (an
	// fsync with SQLite) and touches a row of every device in it: the
	// events of 10,000 devices reporting round by round went through
	// mosquitto into SQLite 7–13 % faster in batches of 2048 than of
	// 1024, and a fifth faster than in batches of 256 (bench/RESULTS.md).
	DefaultMaxBatch = 2048
	// DefaultQueue is large because what does not fit waits in a
	// goroutine each: a Client's deliveries from paho (one goroutine per
	// message), or an embedded broker's publishing clients. A broker
	// should hold the rest (max_inflight_messages), but mosquitto 2.0.11
	// sent a gateway working off a backlog nearly all of it, and 90,000
	// goroutines waiting in Deliver, 8 KiB of stack each, took 15–20 % of
	// the CPU of ingestbench's process; a queued Message is 48 bytes.
	DefaultQueue = 1 << 16
)

// Message is one MQTT message for the ingester.
type Message struct {
	Topic   string
	Payload []byte
	// Ack, when not nil, tells the source the message is handled: stored,
	// or malformed. The ingester calls it at most once, never before.
	Ack func()
}

// Publisher publishes the gateway's messages to devices with QoS 1.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, retain bool) error
}

// AsyncPublisher is a Publisher that can publish without waiting for the
// broker; Client is one. The Ingester publishes each batch's acks through
// it all at once and goes on with the next batch while the broker takes
// them, instead of waiting for each PUBACK in turn.
type AsyncPublisher interface {
	Publisher
	// PublishAsync publishes msgs with QoS 1 and returns at once; wait
	// waits until the broker has taken every one, or ctx ends, and
	// returns the error of each.
	PublishAsync(msgs []Publication) (wait func(ctx context.Context) []error)
}

// Publication is one message for an AsyncPublisher.
type Publication struct {
	Topic   string
	Payload []byte
	Retain  bool
}

// Config is what an Ingester needs.
type Config struct {
	Store     store.Store
	Publisher Publisher // where acks go
	Logger    *slog.Logger
	// MaxBatch is the most messages handled together (0: DefaultMaxBatch).
	// From an external broker, a batch fills only as far as the broker
	// lets the gateway leave messages unacknowledged: see Client.
	MaxBatch int
	// Queue is how many delivered messages may wait for Run before
	// Deliver blocks (0: DefaultQueue).
	Queue int
}

// Counters count what an Ingester did since it was made.
type Counters struct {
	Received      int64 `json:"received"`       // messages delivered
	Batches       int64 `json:"batches"`        // batches handled: Received / Batches is the mean batch size
	Stored        int64 `json:"stored"`         // events stored that were not stored before
	Duplicates    int64 `json:"duplicates"`     // events stored before they came, or repeated in a batch
	Malformed     int64 `json:"malformed"`      // messages dropped as malformed
	States        int64 `json:"states"`         // state documents handed to the store
	Statuses      int64 `json:"statuses"`       // statuses handed to the store
	AcksPublished int64 `json:"acks_published"` // ack messages published
	AckErrors     int64 `json:"ack_errors"`     // ack publications that failed (retried with the next events)
	StoreRetries  int64 `json:"store_retries"`  // store calls retried after an error
}

type counters struct {
	received, batches, stored, duplicates, malformed, states, statuses, acks, ackErrors, retries atomic.Int64
}

// Ingester stores what devices send. Deliver and Counters are safe for
// concurrent use; Run must run exactly once.
type Ingester struct {
	store    store.Store
	pub      Publisher
	log      *slog.Logger
	maxBatch int
	queue    chan Message
	done     chan struct{} // closed when Run returns
	c        counters

	// Owned by Run's goroutine.
	devices map[deviceKey]*deviceAcks
}

type deviceKey struct{ tenant, device string }

// deviceAcks is what the ingester knows of a device's acks.
type deviceAcks struct {
	stored    uint64        // the store's ack after the last AddEventBatch (Run's alone)
	published atomic.Uint64 // the highest ack the broker took (set by settle)
}

// setPublished records that seq was published.
func (a *deviceAcks) setPublished(seq uint64) {
	for {
		old := a.published.Load()
		if seq <= old || a.published.CompareAndSwap(old, seq) {
			return
		}
	}
}

// New returns an Ingester; start it with Run.
func New(cfg Config) *Ingester {
	maxBatch := cfg.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	queue := cfg.Queue
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Ingester{
		store:    cfg.Store,
		pub:      cfg.Publisher,
		log:      cfg.Logger,
		maxBatch: maxBatch,
		queue:    make(chan Message, queue),
		done:     make(chan struct{}),
		devices:  map[deviceKey]*deviceAcks{},
	}
}

// Deliver hands a message to the ingester, waiting while its queue is
// full. It returns ctx's error when ctx ends first, and ErrStopped once
// Run has returned; the message is then not handled (and not
// acknowledged).
func (in *Ingester) Deliver(ctx context.Context, m Message) error {
	select {
	case <-in.done:
		return fmt.Errorf("deliver %s: %w", m.Topic, ErrStopped)
	default:
	}
	select {
	case in.queue <- m:
		in.c.received.Add(1)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("deliver %s: %w", m.Topic, ctx.Err())
	case <-in.done:
		return fmt.Errorf("deliver %s: %w", m.Topic, ErrStopped)
	}
}

// Counters returns what the ingester did so far.
func (in *Ingester) Counters() Counters {
	return Counters{
		Received:      in.c.received.Load(),
		Batches:       in.c.batches.Load(),
		Stored:        in.c.stored.Load(),
		Duplicates:    in.c.duplicates.Load(),
		Malformed:     in.c.malformed.Load(),
		States:        in.c.states.Load(),
		Statuses:      in.c.statuses.Load(),
		AcksPublished: in.c.acks.Load(),
		AckErrors:     in.c.ackErrors.Load(),
		StoreRetries:  in.c.retries.Load(),
	}
}

// Run handles delivered messages until ctx ends, then returns nil.
// Messages still queued are not acknowledged; their sources deliver them
// again.
//
// Run stores one batch after the other, publishes each batch's acks and
// acknowledges its messages. Through an AsyncPublisher it does not wait
// for the broker to take the acks (that took as long as storing the
// batch): a goroutine of Run's waits for them, and Run only when the acks
// of maxAckWaits batches are still on their way.
func (in *Ingester) Run(ctx context.Context) error {
	defer close(in.done)
	waits := make(chan ackWait, maxAckWaits)
	var wg sync.WaitGroup
	wg.Go(func() {
		for w := range waits {
			in.settle(ctx, w)
		}
	})
	defer func() {
		close(waits)
		wg.Wait()
	}()
	batch := make([]Message, 0, in.maxBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in.queue:
			batch = append(batch[:0], m)
		}
	fill:
		for len(batch) < in.maxBatch {
			select {
			case m := <-in.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		in.c.batches.Add(1)
		now := time.Now().UTC()
		acks, err := in.handle(ctx, batch, now)
		if err != nil {
			return nil // ctx ended while the store failed
		}
		in.publishAcks(ctx, acks, now, waits)
		for _, m := range batch {
			if m.Ack != nil {
				m.Ack()
			}
		}
	}
}

// retry calls fn until it succeeds, fails permanently (store.ErrInvalid)
// or ctx ends, waiting longer after each failure.
func (in *Ingester) retry(ctx context.Context, what string, fn func() error) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || errors.Is(err, store.ErrInvalid) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		in.c.retries.Add(1)
		in.log.Warn("store failed; will retry", "op", what, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
