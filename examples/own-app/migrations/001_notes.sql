-- The notes service's one table: a note belongs to the user who wrote it.
create table notes (
  id text primary key,
  owner_id text not null,
  title text not null,
  body text not null,
  created_at text not null
);
create index notes_owner on notes (owner_id, created_at, id);
