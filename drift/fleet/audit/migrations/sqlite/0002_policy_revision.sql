-- The desired-state source (policy) and its revision the agent compared
-- against when the event happened.
ALTER TABLE events ADD COLUMN policy TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN revision TEXT NOT NULL DEFAULT '';
ALTER TABLE current ADD COLUMN policy TEXT NOT NULL DEFAULT '';
ALTER TABLE current ADD COLUMN revision TEXT NOT NULL DEFAULT '';
