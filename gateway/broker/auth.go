package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"patchbay.dev/gateway/pki"
)

// authHook authenticates clients and checks every publish, subscription
// and delivery against their identity. After authentication a client's
// username is its identity (pki.Identity.String), which OnACLCheck reads.
type authHook struct {
	mqtt.HookBase
	devAuth  bool
	services map[string]bool
	stats    *counters
	log      *slog.Logger
}

func (h *authHook) ID() string { return "patchbay-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnect refuses protocol levels the listener should already have
// refused (defence in depth: mochi-mqtt's MQTT 5 decoders must never see a
// client's packets).
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if !supportedLevel(cl.Properties.ProtocolVersion) {
		h.stats.refused.Add(1)
		return packets.ErrUnsupportedProtocolVersion
	}
	return nil
}

// OnConnectAuthenticate admits a client with a device identity, or a
// service identity that Config.Services lists.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	id, err := h.identify(cl, pk)
	if err == nil && pk.Connect.WillFlag && !h.mayPublish(id, pk.Connect.WillTopic) {
		err = fmt.Errorf("last will on %q: a device may set one on its own status topic only", pk.Connect.WillTopic)
	}
	if err != nil {
		h.stats.authFailures.Add(1)
		h.log.Warn("client refused", "remote", cl.Net.Remote, "client_id", pk.Connect.ClientIdentifier, "error", err)
		return false
	}
	cl.Properties.Username = []byte(id.String())
	if id.IsDevice() {
		cl.ID = id.String() // one session per device, whatever ID it sent
	}
	h.log.Debug("client admitted", "remote", cl.Net.Remote, "client_id", cl.ID, "identity", id.String())
	return true
}

func (h *authHook) identify(cl *mqtt.Client, pk packets.Packet) (pki.Identity, error) {
	c, _ := cl.Net.Conn.(*conn)
	switch {
	case c != nil && c.cert != nil:
		id, err := pki.IdentityOf(c.cert)
		if err != nil {
			return pki.Identity{}, err
		}
		if !id.IsDevice() && !h.services[id.Service] {
			return pki.Identity{}, fmt.Errorf("service %q is not one of this broker's services", id.Service)
		}
		return id, nil
	case h.devAuth:
		id, err := pki.ParseIdentity(string(pk.Connect.Username))
		if err != nil || !id.IsDevice() {
			return pki.Identity{}, fmt.Errorf("username %q: insecure development mode wants \"{tenant}/{device}\"", pk.Connect.Username)
		}
		return id, nil
	default:
		return pki.Identity{}, errors.New("no client certificate")
	}
}

// OnACLCheck allows a device its own topics and a service everything.
// mochi-mqtt calls it with write for a publish, and without for a
// subscription (topic is the filter) and each delivery.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	id, err := pki.ParseIdentity(string(cl.Properties.Username))
	ok := err == nil
	switch {
	case !ok:
	case write:
		ok = h.mayPublish(id, topic)
	case id.IsDevice():
		ok = id.MayReceive(topic)
	default:
		ok = h.services[id.Service]
	}
	if !ok {
		h.stats.denied.Add(1)
		h.log.Debug("topic denied", "client_id", cl.ID, "topic", topic, "write", write)
	}
	return ok
}

func (h *authHook) mayPublish(id pki.Identity, topic string) bool {
	if id.IsDevice() {
		return id.MayPublish(topic)
	}
	return h.services[id.Service]
}
