-- The initial schema. Every time is an INTEGER of Unix nanoseconds in UTC;
-- a NULL time is the zero time.Time (a session not revoked, a key not
-- retired). Text columns that the records allow to be empty are NOT NULL
-- DEFAULT '' so that "" and NULL never mean two different things.

-- +goose Up
CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_created_at ON users (created_at);

-- sessions.user_id deliberately has no foreign key to users: an application
-- may bring its own users table and let Latchkey own only sessions. Rotate
-- still joins users to check the status when the built-in users are used.
CREATE TABLE sessions (
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
CREATE INDEX sessions_user_refreshed ON sessions (user_id, last_refreshed_at);

CREATE TABLE signing_keys (
    kid        TEXT    PRIMARY KEY,
    algorithm  TEXT    NOT NULL,
    private    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE users;
