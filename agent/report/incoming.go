package report

import (
	"context"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/telemetry"
)

// Reasons of the error events the reporter emits for what the gateway
// sent.
const (
	ReasonBadCommand      = "bad-command"      // the cmd payload does not decode
	ReasonUnknownCommand  = "unknown-command"  // a command name this agent does not know
	ReasonRetainedCommand = "retained-command" // a command published with the retain flag
	ReasonCommandFailed   = "command-failed"   // Handler.Command returned an error
	ReasonBadDesired      = "bad-desired"      // the desired payload does not decode
	ReasonDesiredFailed   = "desired-failed"   // Handler.Desired returned an error
)

const (
	// recentCommands is how many command ids are remembered to ignore
	// redeliveries.
	recentCommands = 64
	// maxMessage bounds the Message of an error event.
	maxMessage = 512
)

var knownCommands = []string{telemetry.CmdCheckNow, telemetry.CmdInventoryNow, telemetry.CmdReboot, telemetry.CmdRollback}

// onMessage returns the handler of every message, subscribed or not: with
// a persistent session the broker sends queued messages before the
// subscriptions of a new connection are back.
func (r *Reporter) onMessage(ctx context.Context) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		if !r.enterCallback() {
			return
		}
		defer r.leaveCallback()
		switch m.Topic() {
		case r.topics.ack:
			r.onAck(m.Payload())
		case r.topics.cmd, r.topics.desired:
			select {
			case r.incoming <- message{topic: m.Topic(), payload: m.Payload(), retained: m.Retained()}:
			case <-ctx.Done():
			}
		default:
			r.log.Debug("message on a foreign topic ignored", "topic", m.Topic())
		}
	}
}

// onAck records the gateway's ack in the outbox.
func (r *Reporter) onAck(payload []byte) {
	var a telemetry.Ack
	if err := telemetry.Unmarshal(payload, &a); err != nil {
		r.log.Warn("ack unreadable", "topic", r.topics.ack, "err", err)
		return
	}
	before := r.ob.Acked()
	if err := r.ob.Ack(a.Seq); err != nil {
		r.log.Warn("ack not recorded", "seq", a.Seq, "err", err)
	}
	if r.ob.Acked() > before {
		r.mu.Lock()
		r.lastAck = time.Now()
		if r.ackMoved != nil {
			close(r.ackMoved)
			r.ackMoved = nil
		}
		r.mu.Unlock()
		r.kick()
	}
	r.log.Debug("ack received", "seq", a.Seq)
}

// dispatchLoop hands commands and desired documents to the handler, one at
// a time, until ctx ends.
func (r *Reporter) dispatchLoop(ctx context.Context) {
	var d dispatcher
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.incoming:
			if m.topic == r.topics.cmd {
				r.handleCommand(ctx, &d, m)
			} else {
				r.handleDesired(ctx, &d, m)
			}
		}
	}
}

// dispatcher is what dispatchLoop remembers.
type dispatcher struct {
	commands    []string // recent command ids, oldest first
	desired     uint64   // revision last handled successfully
	haveDesired bool
}

// seen records id and reports whether it was seen before.
func (d *dispatcher) seen(id string) bool {
	if slices.Contains(d.commands, id) {
		return true
	}
	if len(d.commands) == recentCommands {
		d.commands = d.commands[1:]
	}
	d.commands = append(d.commands, id)
	return false
}

func (r *Reporter) handleCommand(ctx context.Context, d *dispatcher, m message) {
	if len(m.payload) == 0 {
		r.log.Debug("empty command ignored (a retained command being cleared)")
		return
	}
	data := map[string]string{"topic": m.topic}
	if m.retained {
		r.reject(ctx, ReasonRetainedCommand, "command ignored: it was retained, and a retained command would run again on every connection; publish commands without the retain flag", data)
		return
	}
	var cmd telemetry.Command
	if err := telemetry.Unmarshal(m.payload, &cmd); err != nil {
		r.reject(ctx, ReasonBadCommand, err.Error(), data)
		return
	}
	data["command_id"], data["command"] = cmd.ID, cmd.Name
	if !slices.Contains(knownCommands, cmd.Name) {
		r.reject(ctx, ReasonUnknownCommand, fmt.Sprintf("unknown command %q: this agent knows %v", cmd.Name, knownCommands), data)
		return
	}
	if cmd.ID != "" && d.seen(cmd.ID) {
		r.log.Info("repeated command ignored", "command", cmd.Name, "command_id", cmd.ID)
		return
	}
	r.log.Info("command received", "command", cmd.Name, "command_id", cmd.ID)
	if err := r.h.Command(ctx, cmd); err != nil && ctx.Err() == nil {
		r.reject(ctx, ReasonCommandFailed, err.Error(), data)
	}
}

func (r *Reporter) handleDesired(ctx context.Context, d *dispatcher, m message) {
	if len(m.payload) == 0 {
		r.log.Debug("empty desired document ignored")
		return
	}
	var want telemetry.Desired
	if err := telemetry.Unmarshal(m.payload, &want); err != nil {
		r.reject(ctx, ReasonBadDesired, err.Error(), map[string]string{"topic": m.topic})
		return
	}
	if d.haveDesired && want.Revision == d.desired {
		r.log.Debug("desired revision already handled", "revision", want.Revision)
		return
	}
	r.log.Info("desired state received", "revision", want.Revision, "target", want.Target)
	if err := r.h.Desired(ctx, want); err != nil {
		if ctx.Err() == nil {
			r.reject(ctx, ReasonDesiredFailed, err.Error(), map[string]string{"topic": m.topic, "revision": fmt.Sprint(want.Revision)})
		}
		return
	}
	d.desired, d.haveDesired = want.Revision, true
}

// reject reports what could not be used as an error event.
func (r *Reporter) reject(ctx context.Context, reason, msg string, data map[string]string) {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	r.log.Warn("gateway message rejected", "reason", reason, "err", msg)
	ev := telemetry.Event{Type: telemetry.EventError, Reason: reason, Message: msg, Data: data}
	if _, err := r.Emit(ctx, ev); err != nil {
		r.log.Error("error event lost", "reason", reason, "err", err)
	}
}
