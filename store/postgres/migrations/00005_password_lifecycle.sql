-- The password lifecycle (docs/api.md: change, reset by e-mail, e-mail
-- verification): whether a user's address is verified, the single-use
-- tokens of the e-mail links (only their SHA-256 is stored), and the
-- durable queue the mail sender works from.

-- +goose Up

-- Existing users count as verified: only a user created while
-- REQUIRE_EMAIL_VERIFICATION is on starts unverified.
ALTER TABLE users ADD COLUMN email_unverified  boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN email_verified_at bigint;

-- One token per user and kind: a new one replaces the previous one. The row
-- of user_id '' is the token of no user, written by requests for addresses
-- that are no user's so that they cost the same write (IssueToken).
CREATE TABLE user_tokens (
    user_id    text   NOT NULL,
    kind       text   NOT NULL CHECK (kind IN ('password_reset', 'email_verification')),
    hash       bytea  NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- payload is the sealed message (the mail package encrypts it: it carries a
-- token). lease_until 0: not leased.
CREATE TABLE mail_queue (
    id              text   PRIMARY KEY,
    kind            text   NOT NULL,
    payload         bytea  NOT NULL,
    created_at      bigint NOT NULL,
    not_after       bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    last_error      text   NOT NULL DEFAULT '',
    lease_owner     text   NOT NULL DEFAULT '',
    lease_until     bigint NOT NULL DEFAULT 0
);
CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at);

-- +goose Down
DROP TABLE mail_queue;
DROP TABLE user_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE users DROP COLUMN email_unverified;
