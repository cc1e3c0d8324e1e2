-- The governance data of the FairMind platform. Users, API keys, refresh-token families and
-- the audit trail belong to @fairmind/auth and come from its own migrations.
create table models (
  id text primary key,
  name text not null,
  version text not null,
  description text,
  risk_level text not null check (risk_level in ('low', 'medium', 'high')),
  owner text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index models_created_at_id on models (created_at, id);
create index models_risk_level on models (risk_level);

create table assessments (
  id text primary key,
  model_id text not null references models (id) on delete cascade,
  metric text not null,
  value double precision not null,
  threshold double precision not null,
  passed boolean not null,
  notes text,
  created_at timestamptz not null,
  created_by text not null
);
create index assessments_model_created on assessments (model_id, created_at, id);
