package cli

import (
	"context"
	"time"

	"patchbay.dev/gateway/api"
	"patchbay.dev/gateway/broker"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
)

// metrics returns what /metrics shows: the ingester's counters, the
// embedded broker's or the external connection's, and the store's size.
func metrics(st store.Store, in *ingest.Ingester, b *broker.Broker, client *ingest.Client) func(context.Context) []api.Metric {
	return func(ctx context.Context) []api.Metric {
		c := in.Counters()
		counter := func(name, help string, v int64) api.Metric {
			return api.Metric{Name: name, Help: help, Type: api.Counter, Value: float64(v)}
		}
		gauge := func(name, help string, v int64) api.Metric {
			return api.Metric{Name: name, Help: help, Type: api.Gauge, Value: float64(v)}
		}
		ms := []api.Metric{
			counter("patchbay_ingest_messages_received_total", "MQTT messages delivered to the ingester.", c.Received),
			counter("patchbay_ingest_events_stored_total", "Device events stored that were not known duplicates.", c.Stored),
			counter("patchbay_ingest_events_duplicate_total", "Device events already covered by the device's ack, or repeated in a batch.", c.Duplicates),
			counter("patchbay_ingest_messages_malformed_total", "MQTT messages dropped as malformed.", c.Malformed),
			counter("patchbay_ingest_states_stored_total", "State documents handed to the store.", c.States),
			counter("patchbay_ingest_statuses_stored_total", "Online and offline statuses handed to the store.", c.Statuses),
			counter("patchbay_ingest_acks_published_total", "Acks published to devices.", c.AcksPublished),
			counter("patchbay_ingest_ack_errors_total", "Ack publications that failed.", c.AckErrors),
			counter("patchbay_ingest_store_retries_total", "Store calls retried after an error.", c.StoreRetries),
		}
		if b != nil {
			s := b.Stats()
			ms = append(ms,
				gauge("patchbay_broker_clients_connected", "MQTT clients connected to the embedded broker.", s.ClientsConnected),
				counter("patchbay_broker_messages_received_total", "PUBLISH packets the embedded broker received.", s.MessagesReceived),
				counter("patchbay_broker_messages_sent_total", "PUBLISH packets the embedded broker sent.", s.MessagesSent),
				counter("patchbay_broker_messages_dropped_total", "Messages dropped for a client whose write queue was full.", s.MessagesDropped),
				counter("patchbay_broker_inflight_dropped_total", "QoS 1 and 2 messages dropped for a client with too many unacknowledged.", s.InflightDropped),
				counter("patchbay_broker_connections_refused_total", "Connections refused before CONNECT was accepted (TLS, not MQTT, MQTT 5).", s.Refused),
				counter("patchbay_broker_auth_failures_total", "Clients refused by authentication.", s.AuthFailures),
				counter("patchbay_broker_acl_denied_total", "Publishes, subscriptions and deliveries the ACL refused.", s.Denied),
				counter("patchbay_broker_connection_panics_total", "Connection handlers that panicked (recovered); should be 0.", s.Panics),
			)
		}
		if client != nil {
			up := int64(0)
			if client.Check(ctx) == nil {
				up = 1
			}
			ms = append(ms, gauge("patchbay_mqtt_connected", "1 when connected to the external broker.", up))
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if s, err := st.Stats(sctx); err == nil {
			ms = append(ms,
				gauge("patchbay_store_devices", "Devices in the fleet store.", s.Devices),
				gauge("patchbay_store_events", "Events in the fleet store.", s.Events),
			)
		}
		return ms
	}
}
