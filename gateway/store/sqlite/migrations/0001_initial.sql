-- Devices and their events. Times are unix microseconds (UTC), NULL when
-- unknown. Tenants and sites are implied by devices.

CREATE TABLE devices (
	tenant        TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	site          TEXT    NOT NULL DEFAULT '',
	tags          TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings; device_tags indexes it
	board         TEXT    NOT NULL DEFAULT '',
	version       TEXT    NOT NULL DEFAULT '',   -- firmware of the device itself
	agent_version TEXT    NOT NULL DEFAULT '',
	status        TEXT    NOT NULL DEFAULT '',   -- online, offline, or '' before the first status
	status_time   INTEGER,
	last_seen     INTEGER,
	phase         TEXT    NOT NULL DEFAULT '',
	state         BLOB,                          -- CBOR telemetry.State
	state_time    INTEGER,                       -- State.Time of state
	ack_seq       INTEGER NOT NULL DEFAULT 0,    -- every event 1..ack_seq is stored
	event_count   INTEGER NOT NULL DEFAULT 0,    -- events stored, for Stats without a scan
	PRIMARY KEY (tenant, id)
) STRICT;

CREATE INDEX devices_site ON devices (tenant, site);
CREATE INDEX devices_board ON devices (board, version);

CREATE TABLE device_tags (
	tenant TEXT NOT NULL,
	device TEXT NOT NULL,
	tag    TEXT NOT NULL,
	PRIMARY KEY (tenant, device, tag),
	FOREIGN KEY (tenant, device) REFERENCES devices (tenant, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX device_tags_tag ON device_tags (tag, tenant, device);

-- Every event's (tenant, device) has a devices row: AddEvents creates it in
-- the same transaction. There is no FOREIGN KEY to say so because its check
-- per inserted row was half the cost of AddEvents on PostgreSQL.
CREATE TABLE events (
	tenant   TEXT    NOT NULL,
	device   TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	time     INTEGER,                  -- Event.Time, the device's clock
	type     TEXT    NOT NULL,
	phase    TEXT    NOT NULL DEFAULT '',
	target   TEXT    NOT NULL DEFAULT '',
	reason   TEXT    NOT NULL DEFAULT '',
	message  TEXT    NOT NULL DEFAULT '',
	document BLOB    NOT NULL,         -- CBOR telemetry.Event, as decoded and re-encoded
	received INTEGER NOT NULL,         -- when the gateway first stored it
	PRIMARY KEY (tenant, device, seq)
) STRICT, WITHOUT ROWID;
