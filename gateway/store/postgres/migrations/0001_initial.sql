-- Devices and their events. Tenants and sites are implied by devices.

CREATE TABLE devices (
	tenant        text        NOT NULL,
	id            text        NOT NULL,
	site          text        NOT NULL DEFAULT '',
	tags          text[]      NOT NULL DEFAULT '{}',
	board         text        NOT NULL DEFAULT '',
	version       text        NOT NULL DEFAULT '', -- firmware of the device itself
	agent_version text        NOT NULL DEFAULT '',
	status        text        NOT NULL DEFAULT '', -- online, offline, or '' before the first status
	status_time   timestamptz,
	last_seen     timestamptz,
	phase         text        NOT NULL DEFAULT '',
	state         bytea,                           -- CBOR telemetry.State
	state_time    timestamptz,                     -- State.Time of state
	ack_seq       bigint      NOT NULL DEFAULT 0,  -- every event 1..ack_seq is stored
	event_count   bigint      NOT NULL DEFAULT 0,  -- events stored, for Stats without a scan
	PRIMARY KEY (tenant, id)
);

CREATE INDEX devices_site ON devices (tenant, site);
CREATE INDEX devices_board ON devices (board, version);
CREATE INDEX devices_tags ON devices USING gin (tags);

-- Every event's (tenant, device) has a devices row: AddEvents creates it in
-- the same transaction. There is no FOREIGN KEY to say so because its check
-- per inserted row was half the cost of AddEvents on PostgreSQL.
CREATE TABLE events (
	tenant   text        NOT NULL,
	device   text        NOT NULL,
	seq      bigint      NOT NULL CHECK (seq > 0),
	time     timestamptz,                  -- Event.Time, the device's clock
	type     text        NOT NULL,
	phase    text        NOT NULL DEFAULT '',
	target   text        NOT NULL DEFAULT '',
	reason   text        NOT NULL DEFAULT '',
	message  text        NOT NULL DEFAULT '',
	document bytea       NOT NULL,         -- CBOR telemetry.Event, as decoded and re-encoded
	received timestamptz NOT NULL,         -- when the gateway first stored it
	PRIMARY KEY (tenant, device, seq)
);
