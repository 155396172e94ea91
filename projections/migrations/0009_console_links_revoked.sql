-- `tenant.console_links_revoked`: console links minted up to this instant no longer sign in,
-- nor do the sessions they opened (checked on every console request of a link session).
ALTER TABLE tenants ADD COLUMN console_links_revoked_before timestamptz;
