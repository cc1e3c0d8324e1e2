-- The token the family's last rotation spent, and when (epoch seconds): presented again within
-- the reuse interval, it gets the token the family moved on to instead of revoking the family
-- (several tabs refreshing at once).
alter table auth_refresh_families add column previous_token_id text;
alter table auth_refresh_families add column rotated_at bigint;
