-- Test tasks: one per build and arch, created once the build succeeded,
-- run by build nodes under a lease. Times are unix microseconds.

CREATE TABLE test_tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    arch TEXT NOT NULL,
    -- pending, running, passed, failed or cancelled
    state TEXT NOT NULL,
    reason TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL,
    node_name TEXT,
    lease_until BIGINT,
    not_before BIGINT NOT NULL DEFAULT 0,
    -- the TestReport as JSON, once completed
    report TEXT,
    log TEXT NOT NULL DEFAULT '',
    log_lines BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    finished BIGINT,
    UNIQUE (build_id, arch)
);
CREATE INDEX test_tasks_queue ON test_tasks (state, id);
