-- The public ledger: an RFC 9162 Merkle tree over build records.
-- `record` holds the record's canonical bytes exactly as they were hashed;
-- `leaf_hash` is SHA-256(0x00 || record). Indices are dense from 0 and
-- rows are only ever inserted (writers serialise on an advisory lock).
CREATE TABLE ledger_records (
    idx BIGINT PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BYTEA NOT NULL CHECK (octet_length(leaf_hash) = 32),
    artifact BYTEA CHECK (artifact IS NULL OR octet_length(artifact) = 32),
    record BYTEA NOT NULL
);

CREATE INDEX ledger_records_artifact ON ledger_records (artifact) WHERE artifact IS NOT NULL;
