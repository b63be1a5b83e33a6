-- The event log and the open drifts. Times are Unix microseconds (UTC),
-- paths a JSON array of strings.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	time        INTEGER NOT NULL,
	type        TEXT    NOT NULL CHECK (type IN ('detected', 'changed', 'resolved')),
	cluster     TEXT    NOT NULL,
	api_version TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	namespace   TEXT    NOT NULL DEFAULT '',
	name        TEXT    NOT NULL,
	status      TEXT    NOT NULL DEFAULT '',
	severity    TEXT    NOT NULL DEFAULT '',
	paths       TEXT    NOT NULL DEFAULT '[]',
	fields      INTEGER NOT NULL DEFAULT 0,
	manager     TEXT    NOT NULL DEFAULT '',
	changed_at  INTEGER,
	first_seen  INTEGER,
	digest      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_time ON events (time);

-- current holds, per resource (fleet.Event.Key), a copy of its last event
-- while that is not resolved: the drifts a restarted hub resumes from.
-- Append keeps it in the transaction that inserts the events; Prune
-- leaves it alone.
CREATE TABLE current (
	key         TEXT    PRIMARY KEY,
	seq         INTEGER NOT NULL,
	time        INTEGER NOT NULL,
	type        TEXT    NOT NULL CHECK (type IN ('detected', 'changed')),
	cluster     TEXT    NOT NULL,
	api_version TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	namespace   TEXT    NOT NULL DEFAULT '',
	name        TEXT    NOT NULL,
	status      TEXT    NOT NULL DEFAULT '',
	severity    TEXT    NOT NULL DEFAULT '',
	paths       TEXT    NOT NULL DEFAULT '[]',
	fields      INTEGER NOT NULL DEFAULT 0,
	manager     TEXT    NOT NULL DEFAULT '',
	changed_at  INTEGER,
	first_seen  INTEGER,
	digest      TEXT    NOT NULL DEFAULT ''
) STRICT;
