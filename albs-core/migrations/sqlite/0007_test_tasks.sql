-- Test tasks: one per build and arch, created once the build succeeded,
-- run by build nodes under a lease. Times are unix microseconds.

CREATE TABLE test_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    arch TEXT NOT NULL,
    -- pending, running, passed, failed or cancelled
    state TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    node_id INTEGER REFERENCES nodes (id) ON DELETE SET NULL,
    node_name TEXT,
    lease_until INTEGER,
    not_before INTEGER NOT NULL DEFAULT 0,
    -- the TestReport as JSON, once completed
    report TEXT,
    log TEXT NOT NULL DEFAULT '',
    log_lines INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    finished INTEGER,
    UNIQUE (build_id, arch)
);
CREATE INDEX test_tasks_queue ON test_tasks (state, id);
