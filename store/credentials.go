package store

import (
	"context"
	"time"
)

// TokenKind names what a single-use e-mail token is for.
type TokenKind string

const (
	// TokenPasswordReset lets its holder set a new password (POST
	// /auth/reset).
	TokenPasswordReset TokenKind = "password_reset"
	// TokenEmailVerification proves that its holder reads the user's
	// address (POST /auth/verify).
	TokenEmailVerification TokenKind = "email_verification"
)

// Token is a single-use token sent by e-mail. Only Hash, the SHA-256 digest
// of the token's bytes, is stored: a copy of the database does not give
// anyone a usable token. A user has at most one token of each kind: issuing
// a new one replaces (and so voids) the previous one.
type Token struct {
	Hash      []byte
	Kind      TokenKind
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenRequest asks IssueToken for a token for the user with Email.
type TokenRequest struct {
	Kind  TokenKind
	Email string // normalised
	Hash  []byte // SHA-256 of the new token
	Now   time.Time
	// ExpiresAt ends the token's use; it is after Now.
	ExpiresAt time.Time
	// Mail carries the token to the user; it is queued in the same
	// transaction as the token is stored, and only then (Mail.ID set).
	Mail Mail
}

// PasswordChange describes a password change: by the user (UserID and
// CurrentHash), through a reset token (TokenHash), or by an administrator
// (UserID alone).
type PasswordChange struct {
	// UserID names the user, unless TokenHash does.
	UserID string
	// TokenHash, when set, is the hash of a password-reset token that the
	// change consumes: it must be a live TokenPasswordReset of an active
	// user, and the change is that user's. The token is deleted in the same
	// transaction, so of several changes presenting one token exactly one
	// succeeds. The user's address counts as verified from then on (the
	// token came by e-mail to it).
	TokenHash []byte
	// CurrentHash, when set, makes the change a compare-and-set: the stored
	// hash must still be this one (a concurrent change of the same password
	// makes this one fail).
	CurrentHash string
	NewHash     string
	// KeepSessions leaves every session alone; otherwise every session of
	// the user but ExceptSessionID ("" for none) is revoked with Reason.
	KeepSessions    bool
	ExceptSessionID string
	Reason          string
	Now             time.Time
	// Txn is the txn of the security events (Feed) the change records in
	// its transaction: a session-revoked event per session it revokes and
	// a credential-change event. Empty: the backend makes one up.
	Txn string
}

// SessionStart is a sign-in's session, to be stored only while what the
// sign-in checked still holds (Credentials.StartSession).
type SessionStart struct {
	Session    Session
	MaxPerUser int // as for CreateSession
	// PasswordHash is the user's stored hash the sign-in checked the
	// password against.
	PasswordHash string
	// NewPasswordHash, when set, is the same password hashed again with the
	// current parameters, stored in place of PasswordHash.
	NewPasswordHash string
}

// PasswordChanged is the outcome of SetPassword.
type PasswordChanged struct {
	UserID  string
	Revoked int    // sessions revoked
	Txn     string // the txn of its security events
}

// Credentials is the persistence of the password lifecycle: password
// changes and the single-use tokens of password reset and e-mail
// verification. Both backends implement it beside Store (and MailQueue);
// store/storetest.RunCredentials is its conformance suite.
type Credentials interface {
	// IssueToken stores a token for the user whose Email is r.Email and who
	// is active (and, for TokenEmailVerification, whose address is not
	// verified yet), replacing the user's previous token of r.Kind, and
	// queues r.Mail, all in one transaction. It returns the user's id.
	//
	// When no user qualifies it returns "" and no error, queues nothing,
	// and stores r.Hash as the token of no user (a row that can never be
	// used, replaced by the next such request): the transaction writes as
	// much either way, so its duration does not tell whether the address
	// belongs to a user.
	IssueToken(ctx context.Context, r TokenRequest) (userID string, err error)
	// TokenByHash returns the token with hash, expired or not, if it
	// belongs to a user; ErrNotFound otherwise (never issued, used,
	// replaced by a newer one, voided by a password change).
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// SetPassword stores p.NewHash as the user's password hash (UpdatedAt
	// = p.Now) and, in the same transaction, deletes the user's password-
	// reset token (a password change voids it), revokes the sessions p
	// selects as RevokeSessions does (each with its session-revoked event),
	// and records a credential-change event (Feed), all with one txn. It
	// returns ErrNotFound for an unknown
	// UserID and ErrStale, changing nothing, when p.TokenHash is not a live
	// reset token of an active user or p.CurrentHash no longer matches.
	SetPassword(ctx context.Context, p PasswordChange) (PasswordChanged, error)
	// VerifyEmail consumes the live TokenEmailVerification with hash and
	// marks its user's address verified at now (EmailUnverified false,
	// EmailVerifiedAt now), in one transaction, and returns the user's id.
	// ErrStale, changing nothing, when there is no such live token.
	VerifyEmail(ctx context.Context, hash []byte, now time.Time) (userID string, err error)
	// StartSession stores the session of a sign-in that checked the
	// password against r.PasswordHash: in one transaction, if the user is
	// active and its stored hash is still r.PasswordHash, it stores
	// r.NewPasswordHash when set (UpdatedAt = r.Session.CreatedAt) and
	// creates r.Session as CreateSession does. Otherwise it returns ErrStale
	// and changes nothing: the password was changed (or the user
	// deactivated) after the sign-in read it, and neither may a session
	// started with the old password outlive the change that ended the
	// user's sessions, nor the old password, re-hashed, replace the new one.
	// A concurrent SetPassword or DeactivateUser of the user either commits
	// first (then this is ErrStale) or sees, and revokes, the new session.
	StartSession(ctx context.Context, r SessionStart) (evicted []string, err error)
	// ActivateUser sets the user's Status to UserActive and UpdatedAt to
	// now, and nothing else: a password set meanwhile stays (UpdateUser
	// would write back the hash its caller read). ErrNotFound if there is
	// no such user.
	ActivateUser(ctx context.Context, id string, now time.Time) error
}
