-- Initial schema of the PostgreSQL backend.
--
-- Every time is a bigint of Unix nanoseconds (UTC), so that a time.Time
-- written by Go reads back exactly (timestamptz keeps microseconds only).
-- The zero time.Time is stored as NULL in the columns where "not yet" has a
-- meaning (revoked_at, retired_at) and as 0 elsewhere.
--
-- Ids are text, not uuid: the store contract types them as strings, and an
-- application that brings its own users (auth.Users) may use any id.

-- +goose Up
CREATE TABLE users (
    id            text   PRIMARY KEY,
    email         text   NOT NULL UNIQUE,
    password_hash text   NOT NULL,
    status        text   NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);

-- No foreign key to users: an embedding application may keep its users
-- elsewhere, and Rotate checks the user's status itself.
CREATE TABLE sessions (
    id                  text   PRIMARY KEY,
    user_id             text   NOT NULL,
    generation          bigint NOT NULL,
    created_at          bigint NOT NULL,
    last_refreshed_at   bigint NOT NULL,
    refresh_expires_at  bigint NOT NULL,
    absolute_expires_at bigint NOT NULL,
    revoked_at          bigint,
    revoke_reason       text   NOT NULL DEFAULT '',
    client_id           text   NOT NULL DEFAULT '',
    user_agent          text   NOT NULL DEFAULT '',
    ip                  text   NOT NULL DEFAULT ''
);

-- Listing a user's sessions (most recently refreshed first) and choosing
-- which to evict at the session limit.
CREATE INDEX sessions_user_last_refreshed ON sessions (user_id, last_refreshed_at);

CREATE TABLE signing_keys (
    kid        text   PRIMARY KEY,
    algorithm  text   NOT NULL,
    private    bytea  NOT NULL,
    created_at bigint NOT NULL,
    retired_at bigint
);

CREATE TABLE secrets (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE users;
