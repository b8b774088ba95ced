-- The albs store on PostgreSQL. Times are unix microseconds (BIGINT, as on
-- SQLite, so both stores share their SQL), lists and documents are JSON
-- text, digests are 32-byte BYTEA.

CREATE TABLE platforms (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL
);

CREATE TABLE user_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires BIGINT
);

CREATE TABLE nodes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    arches TEXT NOT NULL,
    labels TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    excluded_packages TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    last_seen BIGINT
);

-- One queue per (owner, product): claims go round robin between queues.
CREATE TABLE queues (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner TEXT NOT NULL,
    product TEXT NOT NULL,
    UNIQUE (owner, product)
);

CREATE TABLE builds (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform TEXT NOT NULL REFERENCES platforms (name),
    arches TEXT NOT NULL,
    refs TEXT NOT NULL,
    owner TEXT NOT NULL,
    options TEXT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    queue_id BIGINT NOT NULL REFERENCES queues (id),
    -- the state of the whole build, kept with every task change
    state TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX builds_owner ON builds (owner, id);
CREATE INDEX builds_platform ON builds (platform, id);
CREATE INDEX builds_state ON builds (state, id);
CREATE INDEX builds_created ON builds (created);

CREATE TABLE build_labels (
    build_id BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY (build_id, label)
);

-- Claim order within a queue's round: every claim takes the next number.
CREATE SEQUENCE claim_seq;

CREATE TABLE tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    queue_id BIGINT NOT NULL,
    ref_index BIGINT NOT NULL,
    -- NULL for the src task
    arch TEXT,
    package TEXT,
    state TEXT NOT NULL,
    -- every dependency succeeded (and the task is not a noarch mirror)
    ready BOOLEAN NOT NULL,
    -- the arch task that builds this task's noarch packages
    mirror_of BIGINT REFERENCES tasks (id) ON DELETE CASCADE,
    attempts BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL,
    node_name TEXT,
    lease_until BIGINT,
    not_before BIGINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- when its queue was last served by claiming this task
    claim_seq BIGINT,
    noarch BOOLEAN NOT NULL DEFAULT FALSE,
    commit_id TEXT,
    log_lines BIGINT NOT NULL DEFAULT 0
);
-- The queue churns: vacuum it early so that claims do not wade through
-- index entries of tasks claimed long ago.
ALTER TABLE tasks SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
CREATE INDEX tasks_build ON tasks (build_id);
CREATE INDEX tasks_ready ON tasks (queue_id, id) WHERE state = 'pending' AND ready;
CREATE INDEX tasks_served ON tasks (queue_id, claim_seq);
CREATE INDEX tasks_leases ON tasks (lease_until) WHERE state = 'running';
CREATE INDEX tasks_package ON tasks (package, build_id);
CREATE INDEX tasks_mirror_of ON tasks (mirror_of) WHERE mirror_of IS NOT NULL;
CREATE INDEX tasks_node ON tasks (node_id);

CREATE TABLE task_deps (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_deps_reverse ON task_deps (depends_on);

CREATE TABLE artifacts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    sha256 BYTEA NOT NULL,
    size BIGINT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    nevra TEXT
);
CREATE INDEX artifacts_task ON artifacts (task_id, id);

CREATE TABLE task_logs (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    line BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (task_id, line)
);

CREATE TABLE seen_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
