-- Signing keys (public halves only) and sign tasks with their per-package
-- results. Times are unix microseconds.

CREATE TABLE sign_keys (
    fingerprint TEXT PRIMARY KEY,
    -- the armored public certificate; secret keys never reach the server
    public_key TEXT NOT NULL,
    platform TEXT NOT NULL,
    -- '' when the key serves the whole platform
    product TEXT NOT NULL DEFAULT '',
    -- active or archived
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    archived BIGINT
);
-- one active key per platform and product
CREATE UNIQUE INDEX sign_keys_active ON sign_keys (platform, product) WHERE state = 'active';

CREATE TABLE sign_tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL REFERENCES sign_keys (fingerprint),
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL,
    node_name TEXT,
    lease_until BIGINT,
    not_before BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    finished BIGINT
);
CREATE INDEX sign_tasks_build ON sign_tasks (build_id);
CREATE INDEX sign_tasks_queue ON sign_tasks (state, fingerprint, id);

CREATE TABLE sign_packages (
    task_id BIGINT NOT NULL REFERENCES sign_tasks (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    unsigned_sha256 BYTEA NOT NULL,
    name TEXT NOT NULL,
    nevra TEXT,
    signed_sha256 BYTEA,
    PRIMARY KEY (task_id, unsigned_sha256)
);
