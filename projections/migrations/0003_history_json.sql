-- `webhook_history` keeps its documents as written (`json`, not `jsonb`). Nothing queries inside
-- them: the API returns whole states (`?asOf`) and whole changes (`/history`). Parsing `jsonb`
-- was most of the cost of writing a history row, and the projector writes one per ledger
-- message of a webhook (a rebuild, one per message of the whole ledger).
ALTER TABLE webhook_history
    ALTER COLUMN changes TYPE json USING changes::json,
    ALTER COLUMN state TYPE json USING state::json;
