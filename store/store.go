package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped or bare); callers test with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness rule was broken (an email already taken, a
	// key id already present).
	ErrConflict = errors.New("store: conflict")
	// ErrStale: a compare-and-set did not match (Rotate: the session is not
	// at the expected generation, or is revoked, expired, or its user is not
	// active). The caller reads the session to learn which.
	ErrStale = errors.New("store: stale generation")
	// ErrUnavailable: the database cannot be reached or is overloaded; the
	// request may be retried later. HTTP maps it to 503 with Retry-After.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrInDoubt: a write was sent and no verdict came back (the connection
	// broke, or the client's deadline passed while the commit was under
	// way), or it committed and its result could not be read. It may or may
	// not have been applied. Backends wrap it together with ErrUnavailable,
	// so callers that only look for an outage still see one.
	ErrInDoubt = errors.New("store: outcome in doubt")
	// ErrReplay: a DPoP proof's replay key is already recorded (UseProof,
	// Rotate with a Proof): the proof was used before (RFC 9449 §11.1).
	ErrReplay = errors.New("store: DPoP proof already used")
)

// UserStatus is the account state checked at every refresh.
type UserStatus string

const (
	UserActive   UserStatus = "active"
	UserInactive UserStatus = "inactive"
)

// User is an account. Email is stored normalised (trimmed, lower-case) and is
// unique. PasswordHash is a PHC string (argon2id) or a bcrypt hash of an
// imported user.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Status       UserStatus
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// EmailUnverified is true for a user created while e-mail verification
	// was required who has not proven the address yet; sign-in refuses such
	// a user while the requirement holds. Users created without it count
	// as verified.
	EmailUnverified bool
	// EmailVerifiedAt is when the address was proven (a verification or
	// password-reset link was used); zero if never.
	EmailVerifiedAt time.Time
}

// Session is one sign-in: the refresh-token family. Generation counts the
// rotations; only a refresh token carrying the current generation may rotate
// it. RevokedAt is zero while the session is not revoked.
type Session struct {
	ID                string
	UserID            string
	Generation        int64
	CreatedAt         time.Time
	LastRefreshedAt   time.Time // time of the last rotation (or creation)
	RefreshExpiresAt  time.Time // sliding; never after AbsoluteExpiresAt
	AbsoluteExpiresAt time.Time
	RevokedAt         time.Time
	RevokeReason      string
	ClientID          string
	UserAgent         string
	IP                string
	// JKT is the RFC 7638 thumbprint of the key the session is bound to
	// (DPoP, RFC 9449 §6): every refresh needs a proof by that key. Empty
	// for a bearer session. It never changes after CreateSession.
	JKT string
}

// Bound reports whether the session is bound to a DPoP key.
func (s Session) Bound() bool { return s.JKT != "" }

// ProofUse is one use of a DPoP proof for the replay cache (RFC 9449
// §11.1): Key identifies the proof (a hash of its key's thumbprint and its
// jti, at most 64 bytes), Expires is when it stops being accepted, after
// which the record may be purged.
type ProofUse struct {
	Key     []byte
	Expires time.Time
}

// Revoked reports whether the session has been revoked.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// SigningKey is a key that signs access tokens. Private holds the private key
// in PKCS#8 DER (asymmetric algorithms) or the raw secret (HS256). A retired
// key signs nothing new but stays published until the tokens it signed have
// expired.
type SigningKey struct {
	KID       string
	Algorithm string
	Private   []byte
	CreatedAt time.Time
	RetiredAt time.Time // zero while the key is the active one
}

// RotateParams describe one refresh.
type RotateParams struct {
	SessionID  string
	Generation int64         // the generation the presented refresh token carries
	Now        time.Time     // the server's clock
	RefreshTTL time.Duration // the sliding lifetime started again by this refresh
	// Advance is true when rotation is on: the generation is incremented. With
	// rotation off the session is only touched (expiry slides, generation stays).
	Advance bool
	// SkipUserCheck leaves the user's status out of the compare-and-set: the
	// application keeps its users elsewhere (auth.Users) and the caller checks
	// them itself.
	SkipUserCheck bool
	// JKT is the key binding the session must have (empty: a bearer
	// session), part of the compare-and-set: a session bound otherwise is
	// ErrStale.
	JKT string
	// Proof, when set, is recorded in the replay cache in the same
	// transaction as the compare-and-set, before it: if its Key is already
	// recorded nothing changes and Rotate returns ErrReplay. Once recorded it
	// stays recorded even when the compare-and-set then fails (ErrStale): a
	// proof is used once, whatever the outcome.
	Proof *ProofUse
}

// RevokeParams select sessions to revoke. Exactly one of SessionID or UserID
// is set. With UserID, ExceptSessionID (if set) is spared ("sign out others").
type RevokeParams struct {
	SessionID       string
	UserID          string
	ExceptSessionID string
	Reason          string
	Now             time.Time
	// Txn is the txn of the security events the revocation records (Feed):
	// one session-revoked event per session it revokes, in the same
	// transaction. Empty: the backend makes one up.
	Txn string
	// PasswordHash, with UserID, makes the revocation a password change:
	// Credentials.SetPassword with UserID, NewHash PasswordHash,
	// ExceptSessionID, Reason, Now and Txn (the hash set, the reset token
	// voided, the sessions revoked and a credential-change event recorded,
	// in one transaction). ErrNotFound, and no change, if there is no such
	// user.
	PasswordHash string
}

// Store is the persistence contract. All methods are safe for concurrent use
// and take the caller's clock explicitly where time matters, so backends never
// read the wall clock themselves. Times round-trip exactly (at least to the
// microsecond) and come back in UTC; the zero time.Time round-trips as zero.
type Store interface {
	// CreateUser inserts u. It returns ErrConflict if u.Email is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByID and UserByEmail return ErrNotFound for an unknown user. The
	// email must already be normalised.
	UserByID(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser writes u's Status, PasswordHash and UpdatedAt. ErrNotFound if
	// there is no such user.
	UpdateUser(ctx context.Context, u User) error
	// DeactivateUser sets the user's Status to UserInactive and UpdatedAt to
	// now and, in the same transaction, revokes (at now, for reason) every
	// session of the user not revoked yet, as RevokeSessions does. It returns
	// how many sessions it revoked. Both changes commit together or not at
	// all: no failure leaves the user inactive beside sessions it did not
	// revoke. ErrNotFound, and no change, if there is no such user.
	DeactivateUser(ctx context.Context, id, reason string, now time.Time) (revoked int, err error)

	// CreateSession inserts s and, in the same transaction, revokes (reason
	// "session_limit", at s.CreatedAt) the user's least recently refreshed
	// sessions that are live at s.CreatedAt beyond maxPerUser (0 = unlimited).
	// The new session is never the one evicted. It returns the ids it revoked;
	// ErrConflict if s.ID exists.
	CreateSession(ctx context.Context, s Session, maxPerUser int) (evicted []string, err error)
	// Session returns a session whatever its state; ErrNotFound if unknown.
	Session(ctx context.Context, id string) (Session, error)
	// ListSessions returns the live sessions (not revoked, not expired at now)
	// of userID, most recently refreshed first; all users' when userID is "".
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// Rotate is the refresh: one atomic compare-and-set. If the session exists,
	// is at p.Generation, is not revoked, has not expired at p.Now (refresh or
	// absolute expiry) and its user exists and is active, it sets
	// LastRefreshedAt = Now, RefreshExpiresAt = min(Now+RefreshTTL,
	// AbsoluteExpiresAt), increments Generation when p.Advance, and returns the
	// updated session. Otherwise it changes nothing and returns ErrStale.
	// Any other error means nothing was changed, except one wrapping
	// ErrInDoubt: then the rotation may have been applied, and a session
	// whose LastRefreshedAt equals p.Now (and whose generation is one past
	// p.Generation when p.Advance) shows that it was.
	Rotate(ctx context.Context, p RotateParams) (Session, error)
	// RevokeSessions sets RevokedAt and RevokeReason on the selected sessions
	// that are not revoked yet, and returns how many it revoked. Params that
	// select nothing (neither SessionID nor UserID) are an error.
	RevokeSessions(ctx context.Context, p RevokeParams) (int, error)
	// UseProof records u in the replay cache; ErrReplay, and no change, if
	// u.Key is already recorded (by any instance sharing the database).
	UseProof(ctx context.Context, u ProofUse) error
	// PurgeProofs deletes the replay-cache records that expired strictly
	// before before (Purge does too): a busy server records one per proof,
	// so they are purged far more often than sessions. It returns how many
	// it deleted.
	PurgeProofs(ctx context.Context, before time.Time) (int64, error)
	// Purge deletes sessions that were revoked, or expired (refresh or
	// absolute), strictly before olderThan, single-use tokens (Credentials)
	// and replay-cache records (UseProof) that expired strictly before
	// olderThan, and signing keys retired
	// strictly before keyRetiredBefore. It returns the number of sessions
	// deleted.
	Purge(ctx context.Context, olderThan, keyRetiredBefore time.Time) (int64, error)

	// SigningKeys returns all signing keys, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// RotateSigningKey retires (at k.CreatedAt) every unretired key and inserts
	// k as the active key, atomically; concurrent rotations (even from other
	// instances) leave exactly one active key. ErrConflict if k.KID exists.
	RotateSigningKey(ctx context.Context, k SigningKey) error
	// EnsureSigningKey stores k as RotateSigningKey does unless an unretired
	// key of k.Algorithm exists; then it changes nothing. It reports whether
	// it stored k. Concurrent callers (even on other instances) store at
	// most one key between them, so instances starting together on a new
	// database all sign with the same first key.
	EnsureSigningKey(ctx context.Context, k SigningKey) (bool, error)
	// Secret returns the server secret called name, creating it from
	// generate() first if it does not exist. Concurrent callers (even on other
	// instances) all get the same value; generate may run in several of them,
	// and all values but the stored one are discarded.
	Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// Ping reports whether the database is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}
