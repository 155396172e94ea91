-- Answers to POST requests sent with an `Idempotency-Key` (see api/src/idempotency.rs).
-- Not a projection: nothing in the streams produces it, `projections rebuild` leaves it alone,
-- and losing it only means a retried POST runs again (the ledger still dedupes it by command id
-- within `nats.ledger_duplicate_window_seconds`). Rows older than
-- `http.idempotency_retention_hours` (24 h by default) are deleted by the API.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,  -- the tenant id, or '@operator' for /v1/admin
    key          text        NOT NULL,  -- the header value
    request_hash text        NOT NULL,  -- hex SHA-256 of method, path and query, body
    status       smallint,              -- NULL while the first request runs
    headers      jsonb,                 -- content-type, etag, location of the answer
    body         jsonb,                 -- the answer's body, sealed with the master key
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX ON idempotency_keys (created_at);
