-- The event log and the open drifts.
CREATE TABLE events (
	seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time        timestamptz NOT NULL,
	type        text        NOT NULL CHECK (type IN ('detected', 'changed', 'resolved')),
	cluster     text        NOT NULL,
	api_version text        NOT NULL,
	kind        text        NOT NULL,
	namespace   text        NOT NULL DEFAULT '',
	name        text        NOT NULL,
	status      text        NOT NULL DEFAULT '',
	severity    text        NOT NULL DEFAULT '',
	paths       jsonb       NOT NULL DEFAULT '[]',
	fields      integer     NOT NULL DEFAULT 0,
	manager     text        NOT NULL DEFAULT '',
	changed_at  timestamptz,
	first_seen  timestamptz,
	digest      text        NOT NULL DEFAULT ''
);

CREATE INDEX events_time ON events (time);

-- current holds, per resource (fleet.Event.Key), a copy of its last event
-- while that is not resolved: the drifts a restarted hub resumes from.
-- Append keeps it in the transaction that inserts the events; Prune
-- leaves it alone.
CREATE TABLE current (
	key         text        PRIMARY KEY,
	seq         bigint      NOT NULL,
	time        timestamptz NOT NULL,
	type        text        NOT NULL CHECK (type IN ('detected', 'changed')),
	cluster     text        NOT NULL,
	api_version text        NOT NULL,
	kind        text        NOT NULL,
	namespace   text        NOT NULL DEFAULT '',
	name        text        NOT NULL,
	status      text        NOT NULL DEFAULT '',
	severity    text        NOT NULL DEFAULT '',
	paths       jsonb       NOT NULL DEFAULT '[]',
	fields      integer     NOT NULL DEFAULT 0,
	manager     text        NOT NULL DEFAULT '',
	changed_at  timestamptz,
	first_seen  timestamptz,
	digest      text        NOT NULL DEFAULT ''
);
