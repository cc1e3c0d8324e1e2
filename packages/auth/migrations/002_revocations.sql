-- Revoked tokens, refresh families and per-user cutoffs, kept as long as a token they
-- concern could be valid (expires_at, epoch seconds). With Redis, the Redis store is their
-- fast path and this table their durable copy: a Redis that restarts empty, or is away, no
-- longer brings a logged-out token back to life (createLayeredRevocationStore).
create table auth_revocations (
  -- 't': a token id, 'f': a refresh family, 's': a user's "log out everywhere" cutoff.
  kind text not null,
  id text not null,
  subject text not null,
  -- For 's': tokens issued at or before this second (epoch seconds) are revoked.
  not_before bigint,
  expires_at bigint not null,
  primary key (kind, id)
);
create index auth_revocations_expires on auth_revocations (expires_at);

-- One row per fact the revocation stores share, such as 'unreplicated_before': the time
-- (epoch ms) of the last revocation written here while Redis could not take it. Tokens issued
-- before it are checked here rather than in Redis.
create table auth_revocation_state (
  name text primary key,
  value bigint not null
);
