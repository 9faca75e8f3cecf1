-- The security-event feed of the SSF transmitter (docs/revocation.md): the
-- events every revocation records in its own transaction, the receivers
-- that may read them, and their streams.

-- +goose Up

-- seq orders the feed. AUTOINCREMENT never reuses a number, even after the
-- newest events are purged, so a stream's cursor can never point past an
-- event that is written later. The single writer commits in seq order.
CREATE TABLE ssf_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    stream_id  TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    user_id    TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL DEFAULT '',
    txn        TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);

CREATE TABLE ssf_receivers (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    audience        TEXT    NOT NULL,
    credential_hash BLOB    NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL
);

-- events_requested and events_delivered are JSON arrays of strings.
CREATE TABLE ssf_streams (
    id                   TEXT    PRIMARY KEY,
    receiver_id          TEXT    NOT NULL REFERENCES ssf_receivers (id) ON DELETE CASCADE,
    push                 INTEGER NOT NULL,
    endpoint_url         TEXT    NOT NULL DEFAULT '',
    authorization_header TEXT    NOT NULL DEFAULT '',
    events_requested     TEXT    NOT NULL,
    events_delivered     TEXT    NOT NULL,
    description          TEXT    NOT NULL DEFAULT '',
    status               TEXT    NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason        TEXT    NOT NULL DEFAULT '',
    cursor               INTEGER NOT NULL,
    lease_owner          TEXT    NOT NULL DEFAULT '',
    lease_until          INTEGER NOT NULL DEFAULT 0,
    seen_at              INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX ssf_streams_receiver ON ssf_streams (receiver_id);

-- +goose Down
DROP TABLE ssf_streams;
DROP TABLE ssf_receivers;
DROP TABLE ssf_events;
