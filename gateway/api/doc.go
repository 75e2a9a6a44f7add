// Package api is the gateway's HTTP interface for operators and scripts: a
// small JSON API over the fleet store, a health check and Prometheus
// metrics.
//
//	GET /api/v1/devices?tenant=&site=&board=&version=&tag=&limit=
//	    {"devices": [...]}: devices matching every given field, by tenant
//	    and id, without their state documents
//	GET /api/v1/devices/{tenant}/{id}?events=N
//	    {"device": {...}, "events": [...]}: one device with its state
//	    document and its most recent events (N, default 50), oldest first
//	GET /healthz
//	    {"status": "ok"|"failing", "checks": {"store": "ok", ...}}; 503 when
//	    any check fails
//	GET /metrics
//	    counters and gauges in the Prometheus text format
//
// Errors are {"error": "..."} with 400 for a bad request, 404 for an unknown
// device or path, 405 for another method, and 500, logged, for a store that
// failed. The handler only reads; it is safe for concurrent use and keeps
// no state of its own. It does not authenticate: serve it on a trusted
// network or behind a proxy that does.
package api
