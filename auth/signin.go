package auth

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/store"
)

// MinPasswordLength is the shortest password SignUp accepts (characters).
const MinPasswordLength = 8

// NormalizeEmail trims and lower-cases an email: emails are unique
// case-insensitively, whatever spaces surround them.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func validEmail(email string) bool {
	if email == "" || len(email) > 254 || !utf8.ValidString(email) || strings.IndexFunc(email, invisible) >= 0 {
		return false
	}
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && a.Name == ""
}

// invisible reports a character no address may hold, although net/mail
// reads every non-ASCII character as a letter (RFC 6532 §3.2): a control
// (C0, DEL, C1 such as U+0085), a line or paragraph separator (which break a
// header line, so no message could be written to the address), or a format
// character (zero-width, bidirectional overrides, soft hyphen: an address
// that looks like another's).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

func validPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fail(CodeInvalidRequest, "password must be valid UTF-8", nil)
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return fail(CodeInvalidRequest, "password must be at least 8 characters", nil)
	case len(pw) > password.MaxLength:
		return fail(CodeInvalidRequest, "password must be at most 1024 bytes", nil)
	}
	return nil
}

// SignUp creates an active user. It fails with CodeInvalidRequest for a bad
// email or password and CodeEmailTaken when the email exists. With
// Policy.RequireEmailVerification the user starts unverified and a
// verification link is sent to the address; sign-in is refused until it
// is followed.
//
// A sign-up costs a password hash, the most expensive thing the server
// does, so before hashing it asks the throttle (SignUpThrottle: per client
// address, from the context, and in all), and the hash itself may use only
// a share of the hashing capacity (HashSignUp): a flood of sign-ups is
// refused early and can never take the capacity sign-ins need.
func (s *Service) SignUp(ctx context.Context, email, pw string) (User, error) {
	return s.createUser(ctx, email, pw, s.requireVerification())
}

// AdminCreateUser creates an active user as an operator does (latchkey user
// create): the operator vouches for the address, so the user never needs
// to verify it.
func (s *Service) AdminCreateUser(ctx context.Context, email, pw string) (User, error) {
	return s.createUser(ctx, email, pw, false)
}

func (s *Service) createUser(ctx context.Context, email, pw string, unverified bool) (User, error) {
	if !s.builtin {
		return User{}, fail(CodeNotImplemented, "sign-up is handled by the application", nil)
	}
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return User{}, fail(CodeInvalidRequest, "email must be a valid address", nil)
	}
	if err := validPassword(pw); err != nil {
		return User{}, err
	}
	if t, ok := s.throttle.(SignUpThrottle); ok {
		if err := t.AllowSignUp(ctx, clientIP(ctx)); err != nil {
			s.log.WarnContext(ctx, "audit", "event", "signup.rate_limited", "limit", limitOf(err), "ip", clientIP(ctx))
			return User{}, err
		}
	}
	hash, err := s.hasher.HashSignUp(ctx, pw)
	if errors.Is(err, password.ErrBusy) {
		return User{}, &Error{Code: CodeUnavailable, Message: "too many sign-ups in progress; retry shortly", Err: err, RetryAfter: time.Second}
	}
	if err != nil {
		return User{}, s.internal(err)
	}
	now := s.now().UTC()
	u := User{ID: newID(), Email: email, PasswordHash: hash, Status: UserActive, CreatedAt: now, UpdatedAt: now,
		EmailUnverified: unverified}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return User{}, fail(CodeEmailTaken, "a user with this email already exists", nil)
		}
		return User{}, s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "user.created", "user_id", u.ID, "email_unverified", unverified)
	if unverified {
		s.verifyAfterSignUp(ctx, u)
	}
	return u, nil
}

// SignIn checks the password and starts a session. An unknown email and a
// wrong password give the same CodeInvalidCredentials after the same work (a
// dummy hash is verified for unknown emails), so sign-in does not reveal
// which emails exist. A correct password of an inactive user gives
// CodeUserInactive, and of a user whose address must be verified first
// (Policy.RequireEmailVerification) CodeEmailNotVerified.
func (s *Service) SignIn(ctx context.Context, email, pw string, m Meta) (g *Grant, err error) {
	defer func() { s.observeSignIn(g, err) }()
	email = NormalizeEmail(email)
	if email == "" || pw == "" {
		return nil, fail(CodeInvalidRequest, "email and password are required", nil)
	}
	if len(pw) > password.MaxLength || len(email) > 254 {
		return nil, newError(CodeInvalidCredentials, nil)
	}
	// A proof that came with the sign-in must be valid and unused; the
	// session is then bound to its key. Checked before the password, so a
	// replayed proof costs no hash; recorded in the replay cache only once
	// the rate limits let the sign-in through, so a client over them
	// cannot make the server write a row per request. A policy that binds
	// no new session (Meta.BoundOnly) ignores it.
	if m.BoundOnly {
		m.Proof, m.ProofError = nil, nil
	}
	if e := proofError(m); e != nil {
		return nil, s.proofRefused(ctx, "signin.dpop_refused", e, "", "", m)
	}
	if s.throttle != nil {
		if err := s.throttle.AllowSignIn(ctx, email, m.IP); err != nil {
			s.log.WarnContext(ctx, "audit", "event", "signin.rate_limited", "limit", limitOf(err), "ip", m.IP)
			return nil, err
		}
	}
	if m.Proof != nil {
		if err := s.useProof(ctx, "signin.dpop_refused", "", "", m); err != nil {
			return nil, err
		}
	}
	if s.hasher != nil {
		// Every password check would be refused anyway: answer 503 before
		// looking the user up, so a sign-in flood costs as little as it can
		// (known and unknown emails alike, so nothing leaks).
		if err := s.hasher.Busy(); err != nil {
			return nil, s.internal(err)
		}
	}
	u, err := s.users.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the work (or the time) of a real check, so that timing does
		// not tell which emails exist.
		if err := s.spendOnUnknown(ctx, pw); err != nil {
			return nil, s.internal(err)
		}
		return nil, s.signInFailed(ctx, email, m, "")
	case err != nil:
		return nil, s.internal(err)
	}
	ok, rehash, err := s.checkPassword(ctx, u, pw)
	if err != nil {
		return nil, s.internal(err)
	}
	if !ok {
		return nil, s.signInFailed(ctx, email, m, u.ID)
	}
	if u.Status != UserActive {
		s.log.InfoContext(ctx, "audit", "event", "signin.failure", "reason", CodeUserInactive, "user_id", u.ID, "ip", m.IP)
		return nil, newError(CodeUserInactive, nil)
	}
	if u.EmailUnverified && s.policy.RequireEmailVerification {
		// After the password check, like an inactive user: the reason is
		// told only to who knows the password.
		s.log.InfoContext(ctx, "audit", "event", "signin.failure", "reason", CodeEmailNotVerified, "user_id", u.ID, "ip", m.IP)
		return nil, newError(CodeEmailNotVerified, nil)
	}
	// The claims hook runs before the session is stored, so its failure
	// leaves nothing behind.
	extra, err := s.extraClaims(withUserAtHand(ctx, u), u.ID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	abs := now.Add(s.policy.SessionMaxLifetime)
	refreshExp := now.Add(s.policy.RefreshTTL)
	if abs.Before(refreshExp) {
		refreshExp = abs
	}
	sess := Session{ID: newID(), UserID: u.ID, Generation: 1, CreatedAt: now, LastRefreshedAt: now,
		RefreshExpiresAt: refreshExp, AbsoluteExpiresAt: abs, ClientID: m.ClientID, UserAgent: truncate(m.UserAgent, 512), IP: m.IP}
	if m.Proof != nil {
		sess.JKT = m.Proof.JKT // RFC 9449 §5: the session is bound to the proof's key
	}
	var evicted []string
	if su, builtin := s.users.(*storeUsers); builtin && s.creds != nil {
		var ok bool
		evicted, ok, err = s.startSession(ctx, su, sess, u, pw, rehash)
		if err == nil && !ok {
			return nil, s.signInFailed(ctx, email, m, u.ID)
		}
	} else {
		evicted, err = s.store.CreateSession(ctx, sess, s.policy.MaxSessionsPerUser)
	}
	if err != nil {
		return nil, s.internal(err)
	}
	for _, id := range evicted {
		s.log.InfoContext(ctx, "audit", "event", "session.revoked", "reason", "session_limit", "session_id", id, "user_id", u.ID,
			"count", 1, "ip", m.IP)
	}
	g, err = s.grant(sess, now, sess.Generation, extra)
	if err != nil {
		return nil, err
	}
	g.User = u
	s.log.InfoContext(ctx, "audit", "event", "signin.success", "user_id", u.ID, "session_id", sess.ID, "ip", m.IP, "dpop", sess.Bound())
	return g, nil
}

// startSession stores the session of a built-in user's sign-in only if the
// password it checked is still the user's (store.Credentials.StartSession):
// a change or reset that committed meanwhile ended every session the old
// password had started, and this one must not outlive it. When the stored
// hash is another than the one checked, the password is checked once more
// against it: another sign-in may have stored its re-hash of the same
// password (then this one goes on), or the password changed (then ok is
// false).
func (s *Service) startSession(ctx context.Context, su *storeUsers, sess Session, u User, pw, rehash string) (evicted []string, ok bool, err error) {
	for attempt := 0; ; attempt++ {
		evicted, err = s.creds.StartSession(ctx, store.SessionStart{Session: sess, MaxPerUser: s.policy.MaxSessionsPerUser,
			PasswordHash: u.PasswordHash, NewPasswordHash: rehash})
		if !errors.Is(err, store.ErrStale) {
			return evicted, err == nil, err
		}
		if attempt > 0 {
			return nil, false, nil
		}
		cur, rerr := s.store.UserByID(ctx, u.ID)
		if errors.Is(rerr, store.ErrNotFound) {
			return nil, false, nil
		} else if rerr != nil {
			return nil, false, rerr
		}
		if cur.Status != UserActive || cur.PasswordHash == u.PasswordHash {
			return nil, false, nil
		}
		if ok, rehash, err = su.verify(ctx, cur, pw); err != nil || !ok {
			return nil, false, err
		}
		u = cur
	}
}

func (s *Service) signInFailed(ctx context.Context, email string, m Meta, userID string) error {
	if s.throttle != nil {
		s.throttle.SignInFailed(context.WithoutCancel(ctx), email, m.IP) // see Throttle
	}
	s.log.InfoContext(ctx, "audit", "event", "signin.failure", "reason", CodeInvalidCredentials, "user_id", userID, "ip", m.IP)
	return newError(CodeInvalidCredentials, nil)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

// User returns a user by id; CodeUserNotFound if there is none.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.users.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, newError(CodeUserNotFound, nil)
	}
	if err != nil {
		return User{}, s.internal(err)
	}
	return u, nil
}

// UserByEmail returns a user by email; CodeUserNotFound if there is none.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.users.UserByEmail(ctx, NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		return User{}, newError(CodeUserNotFound, nil)
	}
	if err != nil {
		return User{}, s.internal(err)
	}
	return u, nil
}

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	if !s.builtin {
		return nil, fail(CodeNotImplemented, "users are managed by the application", nil)
	}
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, s.internal(err)
	}
	return us, nil
}

// SetUserActive activates or deactivates a user. Deactivation revokes every
// session of the user at once; refreshes fail from then on, and the access
// tokens already issued introspect as inactive (they stay valid where they
// are verified without the database, until they expire).
func (s *Service) SetUserActive(ctx context.Context, email string, active bool) (User, error) {
	if !s.builtin {
		return User{}, fail(CodeNotImplemented, "users are managed by the application", nil)
	}
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return u, err
	}
	now := s.now().UTC()
	if !active {
		// One store operation: a failure between making the user inactive
		// and revoking its sessions would leave sessions that CheckSession
		// accepts (it does not read the built-in users' status).
		n, err := s.store.DeactivateUser(ctx, u.ID, "user_deactivated", now)
		if err != nil {
			return u, s.internal(err)
		}
		u.Status, u.UpdatedAt = UserInactive, now
		s.log.InfoContext(ctx, "audit", "event", "user.deactivated", "user_id", u.ID, "sessions_revoked", n)
		return u, nil
	}
	u.Status, u.UpdatedAt = UserActive, now
	if s.creds != nil {
		// Status alone: a password set since u was read stays.
		err = s.creds.ActivateUser(ctx, u.ID, now)
	} else {
		err = s.store.UpdateUser(ctx, u)
	}
	if err != nil {
		return u, s.internal(err)
	}
	s.log.InfoContext(ctx, "audit", "event", "user.activated", "user_id", u.ID)
	return u, nil
}
