-- The security-event feed of the SSF transmitter (docs/revocation.md): the
-- events every revocation records in its own transaction, the receivers
-- that may read them, and their streams.

-- +goose Up

-- seq orders the feed, and the order must be the commit order: a stream's
-- cursor moves past an event only when no event with a smaller seq can
-- still appear. So a revocation inserts its events with no seq (it commits
-- with nothing to wait for), and a sequencer gives them one later, under a
-- transaction-scoped advisory lock, in one transaction after another
-- (feed.go): every event is committed before it gets a seq, and a later
-- sequencer only ever hands out larger ones. Readers read sequenced events.
CREATE SEQUENCE ssf_events_seq;
CREATE TABLE ssf_events (
    seq        bigint,
    id         text   NOT NULL,
    kind       text   NOT NULL,
    stream_id  text   NOT NULL DEFAULT '',
    session_id text   NOT NULL DEFAULT '',
    user_id    text   NOT NULL DEFAULT '',
    reason     text   NOT NULL DEFAULT '',
    state      text   NOT NULL DEFAULT '',
    txn        text   NOT NULL DEFAULT '',
    at         bigint NOT NULL
);
-- One index serves the readers (seq ranges) and the sequencer (seq IS
-- NULL): a revocation maintains one index per event, not two. The
-- sequencer alone hands out seqs, from a sequence, so they are unique.
CREATE INDEX ssf_events_by_seq ON ssf_events (seq);
-- Owned by the column, so it goes wherever the table goes (SET SCHEMA).
ALTER SEQUENCE ssf_events_seq OWNED BY ssf_events.seq;

CREATE TABLE ssf_receivers (
    id              text   PRIMARY KEY,
    name            text   NOT NULL UNIQUE,
    audience        text   NOT NULL,
    credential_hash bytea  NOT NULL UNIQUE,
    created_at      bigint NOT NULL
);

CREATE TABLE ssf_streams (
    id                   text    PRIMARY KEY,
    receiver_id          text    NOT NULL REFERENCES ssf_receivers (id) ON DELETE CASCADE,
    push                 boolean NOT NULL,
    endpoint_url         text    NOT NULL DEFAULT '',
    authorization_header text    NOT NULL DEFAULT '',
    events_requested     jsonb   NOT NULL,
    events_delivered     jsonb   NOT NULL,
    description          text    NOT NULL DEFAULT '',
    status               text    NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason        text    NOT NULL DEFAULT '',
    cursor               bigint  NOT NULL,
    lease_owner          text    NOT NULL DEFAULT '',
    lease_until          bigint  NOT NULL DEFAULT 0,
    seen_at              bigint  NOT NULL,
    created_at           bigint  NOT NULL,
    updated_at           bigint  NOT NULL
);
CREATE INDEX ssf_streams_receiver ON ssf_streams (receiver_id);

-- +goose Down
DROP TABLE ssf_streams;
DROP TABLE ssf_receivers;
DROP TABLE ssf_events; -- and its sequence
