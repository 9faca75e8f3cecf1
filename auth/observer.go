package auth

import (
	"context"
	"errors"
)

// Observer is told the outcome of every sign-in and refresh, for metrics
// (package metrics implements it with Prometheus counters; the domain
// imports no metrics library). Its methods run on the request path: they
// must be cheap, must not block, and must be safe for concurrent use.
type Observer interface {
	// SignIn is called once per SignIn with OutcomeSuccess or the failure's
	// Code (OutcomeInternal for a failure that has none).
	SignIn(outcome string)
	// Refresh is called once per Refresh with OutcomeRotated,
	// OutcomeReissued, OutcomeNotRotated or the failure's Code.
	Refresh(outcome string)
	// ReuseDetected is called when a superseded refresh token revokes its
	// session (RFC 9700 §4.14.2).
	ReuseDetected()
}

// Outcomes an Observer receives besides the failure codes.
const (
	OutcomeSuccess    = "success"     // a sign-in started a session
	OutcomeRotated    = "rotated"     // a refresh rotated the token
	OutcomeReissued   = "reissued"    // the previous token, inside the reuse interval: the current tokens again
	OutcomeNotRotated = "not_rotated" // REFRESH_TOKEN_ROTATION=off: same refresh token, new access token
	OutcomeInternal   = "internal_error"
	// OutcomeClientClosed: the caller's context ended first (the client
	// closed the connection); not a failure of the server.
	OutcomeClientClosed = "client_closed_request"
)

// outcome names err for an Observer.
func outcome(err error) string {
	if c := ErrorCode(err); c != "" {
		return string(c)
	}
	if errors.Is(err, context.Canceled) {
		return OutcomeClientClosed
	}
	return OutcomeInternal
}

func (s *Service) observeSignIn(g *Grant, err error) {
	if s.observer == nil {
		return
	}
	if err == nil && g != nil {
		s.observer.SignIn(OutcomeSuccess)
		return
	}
	s.observer.SignIn(outcome(err))
}

func (s *Service) observeRefresh(g *Grant, err error) {
	if s.observer == nil {
		return
	}
	switch {
	case err != nil || g == nil:
		s.observer.Refresh(outcome(err))
	case g.Reissued:
		s.observer.Refresh(OutcomeReissued)
	case !s.policy.Rotation:
		s.observer.Refresh(OutcomeNotRotated)
	default:
		s.observer.Refresh(OutcomeRotated)
	}
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the requesting client's address, for
// the audit events of calls that take no Meta (sign-out, session and token
// revocation). The HTTP server sets it on every request.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// clientIP returns the address WithClientIP stored, or "".
func clientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// limitOf names the limit a throttle refusal reports in its cause, for the
// audit event ("" when the throttle gave none).
func limitOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err.Error()
	}
	return ""
}
