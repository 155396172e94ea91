-- `tenant.console_link_minted` / `tenant.console_link_revoked`: the console links an operator
-- minted (their ids, never the signed token), for the operator's list and for refusing one
-- revoked link and its sessions.
CREATE TABLE console_links (
    link_id    text        PRIMARY KEY,
    tenant     text        NOT NULL,
    read_only  boolean     NOT NULL,
    minted_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ON console_links (tenant, minted_at);
