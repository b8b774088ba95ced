-- Role-based access: teams whose members each hold one role, products
-- owned by a team, users' password hashes (argon2id PHC strings, never the
-- password), and the audit log of every decision on a write (who, what,
-- on which object, allowed or denied; never a secret). Times are unix
-- microseconds.

CREATE TABLE teams (
    name TEXT PRIMARY KEY
);

CREATE TABLE team_members (
    team TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('observer', 'contributor', 'maintainer', 'signer')),
    PRIMARY KEY (team, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

ALTER TABLE products ADD COLUMN team TEXT REFERENCES teams (name);

ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    user_name TEXT,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL
);

-- Reads of an artifact ask which builds made or signed it (to hide those
-- of private products).
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
CREATE INDEX sign_packages_signed ON sign_packages (signed_sha256);
