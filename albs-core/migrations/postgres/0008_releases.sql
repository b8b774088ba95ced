-- Release plans: which package of which build goes to which repository,
-- and what committing and reverting them did. Times are unix microseconds.

CREATE TABLE releases (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform TEXT NOT NULL,
    -- '' when the release is the platform's own
    product TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL,
    -- planned, committed, reverted or failed
    state TEXT NOT NULL,
    reason TEXT,
    -- the build ids, as a JSON array
    builds TEXT NOT NULL,
    created BIGINT NOT NULL,
    committed BIGINT,
    reverted BIGINT
);

CREATE TABLE release_entries (
    release_id BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    -- the package as built (its signed twin is found at commit)
    sha256 BYTEA NOT NULL,
    build_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    nevra TEXT NOT NULL,
    arch TEXT NOT NULL,
    repo TEXT NOT NULL,
    PRIMARY KEY (release_id, sha256, repo)
);

CREATE TABLE release_repos (
    release_id BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    repo TEXT NOT NULL,
    -- after the commit: the repomd.xml served and its generation
    repomd_sha256 BYTEA NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (release_id, repo)
);
