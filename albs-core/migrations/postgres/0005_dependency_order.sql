-- What the SRPM of a src task needs and what its spec produces (JSON arrays),
-- from which builds in dependency order are ordered.
ALTER TABLE tasks ADD COLUMN build_requires TEXT;
ALTER TABLE tasks ADD COLUMN produces TEXT;
