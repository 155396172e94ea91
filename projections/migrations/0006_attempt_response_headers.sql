-- The response headers of each attempt (issue 15): a JSON object of lower-case name to value,
-- as the `delivery.attempted` fact carries them (bounded by the dispatcher). NULL for an
-- attempt without a response and for rows folded from facts written before headers were kept
-- (a rebuild does not invent them either: those facts have none). Nullable without a default,
-- so adding it rewrites nothing. A rebuild's shadow table (`LIKE delivery_attempts INCLUDING
-- ALL`) has the column too.
ALTER TABLE delivery_attempts ADD COLUMN response_headers jsonb;
