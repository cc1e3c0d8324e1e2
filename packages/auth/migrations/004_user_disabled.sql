-- When an administrator disabled the account (epoch milliseconds); null while it is enabled.
-- A disabled account cannot sign in, and its refresh tokens and API keys stop working.
alter table auth_users add column disabled_at bigint;
