-- The public ledger: an RFC 9162 Merkle tree over build records.
-- `record` holds the record's canonical bytes exactly as they were hashed;
-- `leaf_hash` is SHA-256(0x00 || record). Indices are dense from 0 and
-- rows are only ever inserted.
CREATE TABLE ledger_records (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    artifact BLOB CHECK (artifact IS NULL OR length(artifact) = 32),
    record BLOB NOT NULL
);

CREATE INDEX ledger_records_artifact ON ledger_records (artifact) WHERE artifact IS NOT NULL;
