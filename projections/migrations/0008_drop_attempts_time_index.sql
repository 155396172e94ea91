-- The charts over time read `webhook_stats_hourly` now (0007), not the attempts of a range:
-- the covering index 0005 made for them is one more index entry for every attempt the
-- deliveries projector writes, and nothing reads it.
DROP INDEX IF EXISTS delivery_attempts_tenant_webhook_id_at_outcome_laten_idx;
