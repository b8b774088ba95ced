-- The albs store on SQLite. Times are unix microseconds (INTEGER), lists
-- and documents are JSON text, digests are 32-byte BLOBs.

CREATE TABLE platforms (
    name TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL
);

CREATE TABLE user_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires INTEGER
);

CREATE TABLE nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    arches TEXT NOT NULL,
    labels TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    excluded_packages TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    last_seen INTEGER
);

-- One queue per (owner, product): claims go round robin between queues.
CREATE TABLE queues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    product TEXT NOT NULL,
    UNIQUE (owner, product)
);

CREATE TABLE builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL REFERENCES platforms (name),
    arches TEXT NOT NULL,
    refs TEXT NOT NULL,
    owner TEXT NOT NULL,
    options TEXT NOT NULL,
    timeout_secs INTEGER NOT NULL,
    queue_id INTEGER NOT NULL REFERENCES queues (id),
    -- the state of the whole build, kept with every task change
    state TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX builds_owner ON builds (owner, id);
CREATE INDEX builds_platform ON builds (platform, id);
CREATE INDEX builds_state ON builds (state, id);
CREATE INDEX builds_created ON builds (created);

CREATE TABLE build_labels (
    build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY (build_id, label)
);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    queue_id INTEGER NOT NULL,
    ref_index INTEGER NOT NULL,
    -- NULL for the src task
    arch TEXT,
    package TEXT,
    state TEXT NOT NULL,
    -- every dependency succeeded (and the task is not a noarch mirror)
    ready BOOLEAN NOT NULL,
    -- the arch task that builds this task's noarch packages
    mirror_of INTEGER REFERENCES tasks (id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    node_id INTEGER REFERENCES nodes (id) ON DELETE SET NULL,
    node_name TEXT,
    lease_until INTEGER,
    not_before INTEGER NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- when its queue was last served by claiming this task
    claim_seq INTEGER,
    noarch BOOLEAN NOT NULL DEFAULT FALSE,
    commit_id TEXT,
    log_lines INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_build ON tasks (build_id);
CREATE INDEX tasks_ready ON tasks (queue_id, id) WHERE state = 'pending' AND ready;
CREATE INDEX tasks_served ON tasks (queue_id, claim_seq);
CREATE INDEX tasks_claim_seq ON tasks (claim_seq);
CREATE INDEX tasks_leases ON tasks (lease_until) WHERE state = 'running';
CREATE INDEX tasks_package ON tasks (package, build_id);
CREATE INDEX tasks_mirror_of ON tasks (mirror_of) WHERE mirror_of IS NOT NULL;
CREATE INDEX tasks_node ON tasks (node_id);

CREATE TABLE task_deps (
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_deps_reverse ON task_deps (depends_on);

CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    nevra TEXT
);
CREATE INDEX artifacts_task ON artifacts (task_id, id);

CREATE TABLE task_logs (
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (task_id, line)
);

CREATE TABLE seen_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (repo, tag)
);
