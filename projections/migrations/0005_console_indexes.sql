-- Indexes for the console's reads (issue 15). Default names, so a rebuild's shadow tables
-- (`LIKE … INCLUDING ALL`) get them back — except the first, whose default name is longer
-- than a shadow table's index name may be (63 bytes): it is named as PostgreSQL truncates it
-- on `delivery_attempts_shadow`, which is what the rebuild renames back.
-- Charts over time (projections/src/timeline.rs): a webhook's attempts in a time range, read
-- from the index alone.
CREATE INDEX delivery_attempts_tenant_webhook_id_at_outcome_laten_idx
    ON delivery_attempts (tenant, webhook_id, at) INCLUDE (outcome, latency_ms, attempt);
-- The last failed attempt of each webhook on a page of the list: one index entry per webhook,
-- however many successful attempts came after.
CREATE INDEX ON delivery_attempts (tenant, webhook_id, at) WHERE outcome <> 'success';
-- Deliveries of one event across the tenant's webhooks (`deliveries::by_event::for_event`).
CREATE INDEX ON deliveries (tenant, event_id);
