-- The refresh rewrites one session row per request (store/sqlite/rotate.go).
-- Two changes make that write touch fewer pages (docs/performance.md):
--
--   * sessions becomes a WITHOUT ROWID table clustered on id, so the
--     compare-and-set finds its row in one b-tree instead of the primary-key
--     index and then the table.
--   * the (user_id, last_refreshed_at) index becomes (user_id): every rotation
--     changed last_refreshed_at and so moved an index entry, dirtying another
--     page per refresh in the WAL. The queries that order one user's sessions
--     by last_refreshed_at (the session limit, listing) now sort that user's
--     few rows instead.

-- +goose Up
CREATE TABLE sessions_v2 (
    id                  TEXT    NOT NULL PRIMARY KEY,
    user_id             TEXT    NOT NULL,
    generation          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    last_refreshed_at   INTEGER NOT NULL,
    refresh_expires_at  INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoke_reason       TEXT    NOT NULL DEFAULT '',
    client_id           TEXT    NOT NULL DEFAULT '',
    user_agent          TEXT    NOT NULL DEFAULT '',
    ip                  TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
INSERT INTO sessions_v2 SELECT id, user_id, generation, created_at, last_refreshed_at,
    refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason, client_id, user_agent, ip
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v2 RENAME TO sessions;
CREATE INDEX sessions_user ON sessions (user_id);

-- +goose Down
CREATE TABLE sessions_v1 (
    id                  TEXT    PRIMARY KEY,
    user_id             TEXT    NOT NULL,
    generation          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    last_refreshed_at   INTEGER NOT NULL,
    refresh_expires_at  INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoke_reason       TEXT    NOT NULL DEFAULT '',
    client_id           TEXT    NOT NULL DEFAULT '',
    user_agent          TEXT    NOT NULL DEFAULT '',
    ip                  TEXT    NOT NULL DEFAULT ''
);
INSERT INTO sessions_v1 SELECT id, user_id, generation, created_at, last_refreshed_at,
    refresh_expires_at, absolute_expires_at, revoked_at, revoke_reason, client_id, user_agent, ip
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v1 RENAME TO sessions;
CREATE INDEX sessions_user_refreshed ON sessions (user_id, last_refreshed_at);
