package report

import (
	"context"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/telemetry"
)

const (
	// sendWindow is how many events may be sent beyond the ack before the
	// sender waits for the gateway.
	sendWindow = 128
	// sendBatch is how many events are published before their PUBACKs
	// are awaited.
	sendBatch = 32
)

// MaxResendAfter caps how long sent events wait for an ack before they
// are sent again, however often sending them again brought no ack.
const MaxResendAfter = 5 * time.Minute

// sendState is what the sender remembers between rounds.
type sendState struct {
	epoch    uint64    // the connection events were sent on
	sent     uint64    // highest sequence number sent on it
	lastSend time.Time // when events were last sent
	resend   resendTimer
}

// resendTimer says when events sent and not acknowledged are sent again:
// after base without news at first, then after twice as long each time
// sending them again brought no ack, up to limit. An ack that moves starts
// it over. A gateway that is slow to acknowledge (a backlog, a store that
// is down) so gets fewer copies of what it has not stored yet from every
// device, instead of the whole fleet's outboxes every base.
type resendTimer struct {
	base, limit time.Duration
	wait        time.Duration // the current wait
	acked       uint64        // the ack when wait was last started over
}

func newResendTimer(base time.Duration) resendTimer {
	return resendTimer{base: base, limit: max(base, MaxResendAfter), wait: base}
}

// from returns the sequence number after which to send (resendFrom with
// the current wait), given the highest sent, the ack and how long nothing
// was heard; a re-send doubles the wait, an ack that moved resets it.
func (t *resendTimer) from(sent, acked uint64, quiet time.Duration) uint64 {
	if acked > t.acked {
		t.acked, t.wait = acked, t.base
	}
	from := resendFrom(sent, acked, quiet, t.wait)
	if from < sent {
		t.wait = min(2*t.wait, t.limit)
	}
	return from
}

// resendFrom returns the sequence number after which to send: sent, or
// acked when the gateway has acknowledged nothing new for resendAfter
// while events it has not acknowledged were sent (the broker may have lost
// them: a PUBACK is not delivery).
func resendFrom(sent, acked uint64, quiet, resendAfter time.Duration) uint64 {
	if sent <= acked || quiet >= resendAfter {
		return acked
	}
	return sent
}

// sendLoop sends outbox events whenever it is woken and, to re-send, at a
// quarter of resendAfter, until ctx ends.
func (r *Reporter) sendLoop(ctx context.Context) {
	tick := time.NewTicker(max(r.resendAfter/4, 10*time.Millisecond))
	defer tick.Stop()
	s := sendState{resend: newResendTimer(r.resendAfter)}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
		r.send(ctx, &s, time.Now())
	}
}

// send publishes the events after the ack, up to the window.
func (r *Reporter) send(ctx context.Context, s *sendState, now time.Time) {
	r.mu.Lock()
	client, connected, epoch, lastAck := r.client, r.connected, r.epoch, r.lastAck
	r.mu.Unlock()
	if client == nil || !connected || !client.IsConnectionOpen() {
		return
	}
	acked := r.ob.Acked()
	if epoch != s.epoch {
		// A new connection: whatever is unacknowledged goes again.
		s.epoch, s.sent = epoch, acked
	}
	quiet := now.Sub(s.lastSend)
	if lastAck.After(s.lastSend) {
		quiet = now.Sub(lastAck)
	}
	from := s.resend.from(s.sent, acked, quiet)
	if from < s.sent {
		r.log.Info("events sent again: no ack for them", "from_seq", from+1, "to_seq", s.sent, "next_resend_after", s.resend.wait)
	}
	s.sent = from
	for s.sent-acked < sendWindow {
		evs, err := r.ob.Pending(s.sent, min(sendBatch, int(sendWindow-(s.sent-acked))))
		if err != nil {
			r.log.Error("outbox unreadable", "err", err)
			return
		}
		if len(evs) == 0 {
			return
		}
		toks := make([]mqtt.Token, 0, len(evs))
		for i := range evs {
			payload, err := telemetry.Marshal(&evs[i])
			if err != nil {
				r.log.Error("event not encodable", "seq", evs[i].Seq, "err", err)
				return
			}
			toks = append(toks, client.Publish(r.topics.events, 1, false, payload))
		}
		for _, tok := range toks {
			if err := wait(ctx, tok, "publish event"); err != nil {
				if ctx.Err() == nil {
					r.log.Warn("events not sent; will retry", "err", err)
				}
				return
			}
		}
		s.sent = evs[len(evs)-1].Seq
		s.lastSend = time.Now()
		r.log.Debug("events sent", "from_seq", evs[0].Seq, "to_seq", s.sent)
	}
}
