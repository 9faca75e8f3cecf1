-- DPoP (RFC 9449): a session may be bound to the thumbprint of a key its
-- client holds (jkt, '' for a bearer session), and the proofs already used
-- are remembered until they expire, so that no instance sharing this
-- database accepts one twice (§11.1). key is SHA-256 over the proof's key
-- thumbprint and jti.

-- +goose Up
ALTER TABLE sessions ADD COLUMN jkt TEXT NOT NULL DEFAULT '';

CREATE TABLE dpop_jti (
    key        BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dpop_jti_expires ON dpop_jti (expires_at);

-- +goose Down
DROP TABLE dpop_jti;
ALTER TABLE sessions DROP COLUMN jkt;
