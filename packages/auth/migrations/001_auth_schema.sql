-- The tables of @fairmind/auth, the same on PostgreSQL and SQLite. Apply them with
-- migrate({ db, dir: authMigrationsDir, table: 'fairmind_auth_migrations' }) from
-- @fairmind/db-pool, beside the application's own migrations (their own record table).
-- Times are epoch milliseconds (bigint), except the audit trail's ISO 8601 text, which sorts
-- in time order and is what the audit API returns.

create table auth_users (
  id text primary key,
  email text not null unique,
  password_hash text not null,
  role text not null,
  created_at bigint not null,
  updated_at bigint not null
);

-- No foreign key to auth_users: the key store also serves users kept elsewhere, and a key
-- whose owner is gone is refused at verification anyway.
create table auth_api_keys (
  id text primary key,
  owner_id text not null,
  name text not null,
  prefix text not null,
  secret_hash text not null,
  scopes text,
  created_at bigint not null,
  expires_at bigint,
  revoked_at bigint,
  last_used_at bigint
);
create index auth_api_keys_owner on auth_api_keys (owner_id, created_at);

create table auth_refresh_families (
  id text primary key,
  subject text not null,
  current_token_id text not null,
  created_at bigint not null,
  expires_at bigint not null,
  revoked_at bigint
);
create index auth_refresh_families_subject on auth_refresh_families (subject);
create index auth_refresh_families_expires on auth_refresh_families (expires_at);

create table auth_audit_events (
  id text primary key,
  type text not null,
  actor_id text,
  ip text,
  at text not null,
  details text not null
);
create index auth_audit_events_at on auth_audit_events (at, id);
create index auth_audit_events_type_at on auth_audit_events (type, at, id);
