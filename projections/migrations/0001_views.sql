-- The read side of hookledger: views of the JetStream ledger and of the delivery facts.
-- Every table here can be dropped and rebuilt from the streams (`hookledger projections rebuild`).
-- Times come from the stream (server timestamps, rounded up to the microsecond), never from now().
-- Index names are left to PostgreSQL's defaults (`<table>_<columns>_idx`) so a rebuild can give
-- the shadow tables' indexes back their names after the swap.

CREATE TABLE projection_checkpoints (
    view       text        PRIMARY KEY,
    sequence   bigint      NOT NULL CHECK (sequence >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- LEDGER view -------------------------------------------------------------------------------

CREATE TABLE tenants (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
CREATE INDEX ON tenants (created_at, id);

CREATE TABLE api_keys (
    key_id     text        PRIMARY KEY,
    tenant     text        NOT NULL,
    name       text,
    key_hash   text        NOT NULL UNIQUE,
    prefix     text        NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ON api_keys (tenant, created_at);

CREATE TABLE event_types (
    tenant      text        NOT NULL,
    name        text        NOT NULL,
    description text,
    schema      jsonb,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE INDEX ON event_types (tenant, created_at, name);

CREATE TABLE webhooks (
    tenant              text        NOT NULL,
    id                  text        NOT NULL,
    name                text        NOT NULL,
    description         text,
    url                 text        NOT NULL,
    http_method         text        NOT NULL,
    events              text[]      NOT NULL,
    filter              jsonb,
    headers             jsonb       NOT NULL,
    properties          jsonb       NOT NULL,
    status              text        NOT NULL,
    retry_attempts      integer     NOT NULL,
    retry_delay_seconds integer     NOT NULL,
    retry_policy        text        NOT NULL,
    timeout_seconds     integer     NOT NULL,
    errors_email        text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    created_by          text        NOT NULL,
    updated_by          text        NOT NULL,
    version             bigint      NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX ON webhooks (tenant, created_at, id);
CREATE INDEX ON webhooks (tenant, status, created_at, id);
CREATE INDEX ON webhooks USING gin (events);

-- One row per ledger message of a webhook. `state` is the webhook after the message, in the
-- JSON form of `WebhookRow`; NULL after a delete. The row is valid in [valid_from, valid_to).
CREATE TABLE webhook_history (
    tenant      text        NOT NULL,
    webhook_id  text        NOT NULL,
    sequence    bigint      NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    actor       text        NOT NULL,
    event_types text[]      NOT NULL,
    changes     jsonb       NOT NULL,
    state       jsonb,
    PRIMARY KEY (tenant, webhook_id, sequence)
);
CREATE INDEX ON webhook_history (tenant, webhook_id, valid_from);

-- The ledger in postgres-es 0.5's event table schema (see its db/init.sql), one row per event,
-- so `postgres_es::PostgresEventRepository::with_tables("events_archive", …)` loads aggregates.
CREATE TABLE events_archive (
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- DELIVERIES view ---------------------------------------------------------------------------

CREATE TABLE deliveries (
    tenant          text        NOT NULL,
    webhook_id      text        NOT NULL,
    id              text        NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    status          text        NOT NULL,
    attempt_count   integer     NOT NULL,
    last_attempt    integer     NOT NULL,
    last_outcome    text,
    response_status integer,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    reason          text,
    sequence        bigint      NOT NULL,
    PRIMARY KEY (tenant, webhook_id, id)
);
CREATE INDEX ON deliveries (tenant, webhook_id, created_at, id);
CREATE INDEX ON deliveries (tenant, webhook_id, status, created_at);

CREATE TABLE delivery_attempts (
    tenant          text        NOT NULL,
    webhook_id      text        NOT NULL,
    delivery_id     text        NOT NULL,
    attempt         integer     NOT NULL,
    at              timestamptz NOT NULL,
    outcome         text        NOT NULL,
    response_status integer,
    latency_ms      bigint,
    error           text,
    response_body   text,
    next_attempt_at timestamptz,
    trigger         text,
    sequence        bigint      NOT NULL,
    PRIMARY KEY (tenant, webhook_id, delivery_id, attempt)
);

-- Counters per webhook; `latency_buckets[i]` counts attempts whose latency is at most the i-th
-- bound of `stats::BUCKET_BOUNDS_MS` (the last bucket: above every bound).
CREATE TABLE webhook_stats (
    tenant          text        NOT NULL,
    webhook_id      text        NOT NULL,
    deliveries      bigint      NOT NULL,
    succeeded       bigint      NOT NULL,
    failed          bigint      NOT NULL,
    attempts        bigint      NOT NULL,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    latency_buckets bigint[]    NOT NULL,
    PRIMARY KEY (tenant, webhook_id)
);
