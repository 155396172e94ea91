-- The cold copy of the streams with a retention (EVENTS: published events; DELIVERIES: delivery
-- facts), written before JetStream drops them (projections/src/events_archive.rs). One row per
-- stream message, the payload as stored, so an audit export over an old range reads the same
-- records from here. Not a projection: a rebuild leaves it alone, and nothing deletes from it.
CREATE TABLE IF NOT EXISTS stream_archive (
    stream      text        NOT NULL,  -- 'events' | 'deliveries'
    sequence    bigint      NOT NULL,  -- the message's stream sequence
    subject     text        NOT NULL,
    time        timestamptz NOT NULL,  -- the stream's timestamp, for people (microseconds)
    unix_nanos  bigint      NOT NULL,  -- the same, exact: what reads filter and answer on
    tenant      text        NOT NULL,
    webhook_id  text,                  -- deliveries only
    payload     bytea       NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '[]',  -- [[name, value], ...] as stored (event id, occurred-at)
    PRIMARY KEY (stream, sequence)
);
CREATE INDEX IF NOT EXISTS stream_archive_tenant_time ON stream_archive (stream, tenant, unix_nanos);
