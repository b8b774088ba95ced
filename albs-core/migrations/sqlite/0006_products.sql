-- Products (a private one hides its builds from everyone but its members
-- and admins), their members, and web sessions (only the session id's
-- sha256 is stored). Times are unix microseconds.

CREATE TABLE products (
    name TEXT PRIMARY KEY NOT NULL,
    private BOOLEAN NOT NULL
);

CREATE TABLE product_members (
    product TEXT NOT NULL REFERENCES products (name) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (product, user_id)
);

CREATE TABLE web_sessions (
    session_hash BLOB PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires INTEGER NOT NULL
);
CREATE INDEX queues_product ON queues (product);
