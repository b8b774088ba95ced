-- Errata (advisories) with their fixed packages. Times are unix
-- microseconds; lists are JSON arrays.

CREATE TABLE errata (
    -- ALSA-2026:0001 (security), ALBA-… (bugfix), ALEA-… (enhancement)
    id TEXT PRIMARY KEY,
    year INTEGER NOT NULL,
    number INTEGER NOT NULL,
    platform TEXT NOT NULL,
    -- security, bugfix or enhancement
    kind TEXT NOT NULL,
    severity TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    cves TEXT NOT NULL,
    refs TEXT NOT NULL,
    module TEXT,
    -- draft, approved or released
    state TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    released INTEGER,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX errata_platform ON errata (platform, state, id);
CREATE INDEX errata_number ON errata (year, number);

CREATE TABLE errata_packages (
    erratum_id TEXT NOT NULL REFERENCES errata (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    nevra TEXT NOT NULL,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    sha256 BLOB,
    signing_key TEXT,
    source_rpm TEXT,
    build_id INTEGER,
    PRIMARY KEY (erratum_id, position)
);
