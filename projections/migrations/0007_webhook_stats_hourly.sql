-- Attempts per webhook and UTC hour (issue 15): what the console's charts over time read
-- (projections/src/timeline.rs), at most 168 rows per chart, instead of every attempt of the
-- range. Part of the DELIVERIES view: the deliveries projector adds each batch's new attempts
-- (a repeated fact counts once, as in `delivery_attempts`) in the batch's transaction, and a
-- rebuild refills it with the other tables of the view. Default index names, see 0001.
CREATE TABLE webhook_stats_hourly (
    tenant          text        NOT NULL,
    webhook_id      text        NOT NULL,
    hour            timestamptz NOT NULL,  -- the start of the UTC hour the attempts were made in
    attempts        bigint      NOT NULL,
    succeeded       bigint      NOT NULL,  -- attempts with outcome 'success'
    first_attempts  bigint      NOT NULL,  -- attempts numbered 1: the deliveries created in the hour
    -- The histogram of `webhook_stats` (`stats::BUCKET_BOUNDS_MS`); an attempt without a
    -- latency counts in `attempts` only.
    latency_buckets bigint[]    NOT NULL,
    PRIMARY KEY (tenant, webhook_id, hour)
);

-- Backfill from the attempts already projected, so the charts of an upgraded deployment keep
-- their history. `width_bucket(latency - 1, bounds)` is the number of bounds below the latency:
-- the index of the first bound at or above it, as `stats::bucket_of` (the bounds literal is
-- checked against `BUCKET_BOUNDS_MS` by a unit test of `timeline::rollup`).
WITH counted AS (
    SELECT tenant, webhook_id, date_bin(interval '1 hour', at, timestamptz 'epoch') AS hour,
           width_bucket(latency_ms - 1,
                        '{1,2,5,10,20,50,100,200,300,500,750,1000,1500,2000,3000,5000,7500,10000,15000,20000,30000,45000,60000}'::int8[]) AS lb,
           count(*) AS n,
           count(*) FILTER (WHERE outcome = 'success') AS ok,
           count(*) FILTER (WHERE attempt = 1) AS first
      FROM delivery_attempts
     GROUP BY 1, 2, 3, 4
), hours AS (
    SELECT tenant, webhook_id, hour, sum(n)::int8 AS attempts, sum(ok)::int8 AS succeeded,
           sum(first)::int8 AS first_attempts
      FROM counted
     GROUP BY 1, 2, 3
), histograms AS (
    SELECT h.tenant, h.webhook_id, h.hour, array_agg(coalesce(c.n, 0) ORDER BY i) AS latency_buckets
      FROM hours h
     CROSS JOIN generate_series(0, 23) AS i
      LEFT JOIN counted c
        ON c.tenant = h.tenant AND c.webhook_id = h.webhook_id AND c.hour = h.hour AND c.lb = i
     GROUP BY 1, 2, 3
)
INSERT INTO webhook_stats_hourly (tenant, webhook_id, hour, attempts, succeeded, first_attempts, latency_buckets)
SELECT tenant, webhook_id, hour, attempts, succeeded, first_attempts, latency_buckets
  FROM hours JOIN histograms USING (tenant, webhook_id, hour);
