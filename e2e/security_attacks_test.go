package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/token"
)

// Token attacks through real HTTP (RFC 8725 §2-3, RFC 9700 §4.14): every
// forged, altered, misplaced or stale token below is sent to every route that
// takes a token, in both dialects. Each must get the dialect's refusal and
// leave the victim's session exactly as it was (generation, expiry,
// revocation). A control row first proves every route accepts the genuine
// token, so no refusal is vacuous.

// secRouteKind says which token a route expects.
type secRouteKind int

const (
	secAccessRoute  secRouteKind = iota // Authorization: Bearer <access token>
	secRefreshRoute                     // a refresh token in the body
	secEitherRoute                      // RFC 7009/7662: any token
)

type secRoute struct {
	name string
	kind secRouteKind
	send func(t *testing.T, s *servertest.Server, tok string, v secTokens) *secResponse
	// refused says why r is not this route's refusal of a bad token ("" when it is).
	refused func(r *secResponse) string
	// accepted says why r is not this route's success with a genuine token.
	accepted func(r *secResponse) string
}

func secBearer(method, path, body string) func(*testing.T, *servertest.Server, string, secTokens) *secResponse {
	return func(t *testing.T, s *servertest.Server, tok string, v secTokens) *secResponse {
		ctype := ""
		if body != "" {
			ctype = "application/json"
		}
		return secMustDo(t, s, method, strings.ReplaceAll(path, "{sid}", v.SID), ctype, body, "Authorization: Bearer "+tok)
	}
}

func secForm(path, field string, extra url.Values) func(*testing.T, *servertest.Server, string, secTokens) *secResponse {
	return func(t *testing.T, s *servertest.Server, tok string, _ secTokens) *secResponse {
		body := field + "=" + url.QueryEscape(tok)
		if len(extra) > 0 {
			body += "&" + extra.Encode()
		}
		return secMustDo(t, s, "POST", path, "application/x-www-form-urlencoded", body)
	}
}

// secErrorIs checks status and the "error" member of a JSON error body.
func secErrorIs(status int, codes ...string) func(*secResponse) string {
	return func(r *secResponse) string {
		if r.Status != status {
			return "status " + http.StatusText(r.Status)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			return "body is not JSON"
		}
		if code, _ := m["error"].(string); !slices.Contains(codes, code) {
			return "error " + code
		}
		return ""
	}
}

func secStatus(status int) func(*secResponse) string {
	return func(r *secResponse) string {
		if r.Status != status {
			return "status " + http.StatusText(r.Status)
		}
		return ""
	}
}

func secInactive(r *secResponse) string {
	if r.Status != 200 || string(bytes.TrimSpace(r.Body)) != `{"active":false}` {
		return "not exactly {\"active\":false}"
	}
	return ""
}

func secActive(r *secResponse) string {
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"active":true`)) {
		return "not active"
	}
	return ""
}

var secRoutes = []secRoute{
	{"canonical POST /token", secRefreshRoute,
		func(t *testing.T, s *servertest.Server, tok string, _ secTokens) *secResponse {
			return secMustDo(t, s, "POST", "/token", "application/json", `{"refreshToken":`+secJSONString(tok)+`}`)
		},
		secErrorIs(400, "refresh_token_invalid", "refresh_token_expired", "invalid_request"), secStatus(200)},
	{"canonical GET /auth/me", secAccessRoute, secBearer("GET", "/auth/me", ""),
		secErrorIs(401, "invalid_token"), secStatus(200)},
	{"canonical POST /token/refresh", secAccessRoute, secBearer("POST", "/token/refresh", ""),
		secErrorIs(401, "invalid_token"), secStatus(200)},
	{"canonical POST /auth/sign-out", secAccessRoute, secBearer("POST", "/auth/sign-out", `{"scope":"global"}`),
		secErrorIs(401, "invalid_token"), secStatus(204)},
	{"canonical GET /auth/sessions", secAccessRoute, secBearer("GET", "/auth/sessions", ""),
		secErrorIs(401, "invalid_token"), secStatus(200)},
	{"canonical DELETE /auth/sessions/{id}", secAccessRoute, secBearer("DELETE", "/auth/sessions/{sid}", ""),
		secErrorIs(401, "invalid_token"), secStatus(204)},
	{"oauth2 POST /oauth/token refresh_token", secRefreshRoute,
		secForm("/oauth/token", "refresh_token", url.Values{"grant_type": {"refresh_token"}}),
		secErrorIs(400, "invalid_grant", "invalid_request"), secStatus(200)},
	{"oauth2 POST /oauth/introspect", secEitherRoute, secForm("/oauth/introspect", "token", nil), secInactive, secActive},
	{"oauth2 POST /oauth/revoke", secEitherRoute, secForm("/oauth/revoke", "token", nil), secStatus(200), secStatus(200)},
}

// secEnv is what an attack builds its token from: the victim's genuine
// tokens and claims, and the insider material of secServerKeys.
type secEnv struct {
	s         *servertest.Server
	v         secTokens
	at, rt    map[string]any // the victim's genuine claims
	kid       string
	key       *ecdsa.PrivateKey
	secret    []byte
	jwksDER   []byte // the published ES256 key, SubjectPublicKeyInfo DER
	now       time.Time
	routeKind secRouteKind
	prepared  any
}

func (e *secEnv) accessWith(mod func(map[string]any)) map[string]any {
	c := maps.Clone(e.at)
	if mod != nil {
		mod(c)
	}
	return c
}

func (e *secEnv) refreshWith(mod func(map[string]any)) map[string]any {
	c := maps.Clone(e.rt)
	if mod != nil {
		mod(c)
	}
	return c
}

func (e *secEnv) atHeader(kid string) map[string]any {
	return map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}
}

var secRTHeader = map[string]any{"alg": "HS256", "typ": "rt+jwt"}

type secAttack struct {
	name string
	// prepare runs once on the attack's server before any sign-in.
	prepare func(t *testing.T, s *servertest.Server) any
	build   func(t *testing.T, e *secEnv) string
	// revokedByRevoke: the token is genuine but expired, and RFC 7009
	// revocation of a genuine token ends its session by design.
	revokedByRevoke bool
	// only limits the attack to routes of these kinds (nil: every route).
	only []secRouteKind
	// badEncoding: the request itself is malformed (a form parameter that
	// is not UTF-8), so 400 invalid_request is also a correct refusal.
	badEncoding bool
}

func secSwapSig(tok, other string) string {
	p, q := strings.Split(tok, "."), strings.Split(other, ".")
	return p[0] + "." + p[1] + "." + q[2]
}

func secReplacePart(t *testing.T, tok string, i int, v map[string]any) string {
	p := strings.Split(tok, ".")
	b, _ := json.Marshal(v)
	p[i] = b64url(b)
	return strings.Join(p, ".")
}

func b64url(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

var secAttacks = []secAttack{
	{name: "alg none, access claims", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": e.kid}, e.at, nil)
	}},
	{name: "alg none, refresh claims", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "none", "typ": "rt+jwt"}, e.rt, nil)
	}},
	{name: "alg None with the genuine signature", build: func(t *testing.T, e *secEnv) string {
		return secReplacePart(t, e.v.Access, 0, map[string]any{"alg": "None", "typ": "at+jwt", "kid": e.kid})
	}},
	{name: "HS256 keyed with the JWKS public key (DER), access claims", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": e.kid}, e.at, e.jwksDER)
	}},
	{name: "HS256 keyed with the JWKS public key (PEM), access claims", build: func(t *testing.T, e *secEnv) string {
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: e.jwksDER})
		return secSign(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": e.kid}, e.at, pemKey)
	}},
	{name: "HS256 keyed with the JWKS public key (DER), refresh claims", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.rt, e.jwksDER)
	}},
	{name: "refresh token where an access token is expected, and the reverse", only: []secRouteKind{secAccessRoute, secRefreshRoute},
		build: func(t *testing.T, e *secEnv) string {
			if e.routeKind == secAccessRoute {
				return e.v.Refresh
			}
			return e.v.Access
		}},
	{name: "refresh claims signed with the access key (ES256, typ rt+jwt)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "ES256", "typ": "rt+jwt", "kid": e.kid}, e.rt, e.key)
	}},
	{name: "token_use refresh in an at+jwt signed with the access key", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["token_use"] = "refresh"; m["gen"] = e.rt["gen"] }), e.key)
	}},
	{name: "access claims with typ JWT signed with the access key", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "ES256", "typ": "JWT", "kid": e.kid}, e.at, e.key)
	}},
	{name: "tampered header (kid changed), genuine signature", build: func(t *testing.T, e *secEnv) string {
		return secReplacePart(t, e.v.Access, 0, e.atHeader("other-kid"))
	}},
	// encoding/json matches member names with Unicode case folding, the
	// last match winning: an application claim "ſub" (U+017F) or "SUB"
	// minted after "sub" would replace it. Signed with the
	// server's own key, as a claims hook copying user input would.
	{name: "access claims with ſub (U+017F) naming another user (server key)", build: func(t *testing.T, e *secEnv) string {
		other := secSignIn(t, e.s, "mallory@example.com")
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["ſub"] = secClaims(t, other.Access)["sub"] }), e.key)
	}},
	{name: "access claims with SUB and Sid (server key)", build: func(t *testing.T, e *secEnv) string {
		other := secSignIn(t, e.s, "mallory@example.com")
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) {
			m["SUB"], m["Sid"] = secClaims(t, other.Access)["sub"], other.SID
		}), e.key)
	}},
	{name: "refresh claims with ſid naming another session (real secret)", build: func(t *testing.T, e *secEnv) string {
		other := secSignIn(t, e.s, "mallory@example.com")
		return secSign(t, secRTHeader, e.refreshWith(func(m map[string]any) { m["ſid"] = other.SID }), e.secret)
	}},
	{name: "tampered access claims (sub changed), genuine signature", build: func(t *testing.T, e *secEnv) string {
		return secReplacePart(t, e.v.Access, 1, e.accessWith(func(m map[string]any) { m["sub"] = "00000000-0000-0000-0000-000000000000" }))
	}},
	{name: "tampered access signature", build: func(t *testing.T, e *secEnv) string {
		return secFlip(e.v.Access)
	}},
	{name: "tampered refresh signature", build: func(t *testing.T, e *secEnv) string {
		return secFlip(e.v.Refresh)
	}},
	{name: "refresh gen bumped, genuine signature", build: func(t *testing.T, e *secEnv) string {
		return secReplacePart(t, e.v.Refresh, 1, e.refreshWith(func(m map[string]any) { m["gen"] = secNum(m["gen"]) + 1 }))
	}},
	{name: "refresh gen bumped, re-signed with a wrong secret", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.refreshWith(func(m map[string]any) { m["gen"] = secNum(m["gen"]) + 1 }), []byte(strings.Repeat("w", 32)))
	}},
	{name: "forged refresh token with a wrong secret", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.rt, []byte(strings.Repeat("w", 32)))
	}},
	{name: "refresh token with a kid header (real secret)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, map[string]any{"alg": "HS256", "typ": "rt+jwt", "kid": e.kid}, e.rt, e.secret)
	}},
	{name: "access wrong iss (server key)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["iss"] = "https://evil.example" }), e.key)
	}},
	{name: "access wrong aud (server key)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["aud"] = []string{"another-api"} }), e.key)
	}},
	{name: "access without aud (server key)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { delete(m, "aud") }), e.key)
	}},
	{name: "refresh wrong iss (real secret)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.refreshWith(func(m map[string]any) { m["iss"] = "https://evil.example" }), e.secret)
	}},
	{name: "access exp passed beyond the leeway (server key)", revokedByRevoke: true, build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) {
			m["iat"], m["exp"] = e.now.Add(-time.Hour).Unix(), e.now.Add(-server.AccessLeeway-time.Second).Unix()
		}), e.key)
	}},
	{name: "refresh exp passed by one second (real secret; no leeway)", revokedByRevoke: true, build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.refreshWith(func(m map[string]any) {
			m["iat"], m["exp"] = e.now.Add(-time.Hour).Unix(), e.now.Add(-time.Second).Unix()
		}), e.secret)
	}},
	{name: "access iat in the future beyond the leeway (server key)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["iat"] = e.now.Add(server.AccessLeeway + 5*time.Second).Unix() }), e.key)
	}},
	{name: "access nbf in the future beyond the leeway (server key)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["nbf"] = e.now.Add(server.AccessLeeway + 5*time.Second).Unix() }), e.key)
	}},
	// No "refresh iat in the future" case: a refresh token whose MAC is good
	// was minted by this server, and its iat is not checked, so that a clock
	// step back or a slower instance does not sign users out (auth
	// TestRefreshAcrossClockSteps; docs/security.md, Clocks).
	{name: "unknown kid (a key the server never had)", build: func(t *testing.T, e *secEnv) string {
		k, err := token.GenerateKey(token.ES256, e.now)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := x509.ParsePKCS8PrivateKey(k.Private)
		return secSign(t, e.atHeader(k.KID), e.at, raw.(*ecdsa.PrivateKey))
	}},
	{name: "retired kid (rotated, past its publication window, reloaded)",
		prepare: func(t *testing.T, s *servertest.Server) any {
			key, kid, _ := secServerKeys(t, s)
			ctx := context.Background()
			if _, err := s.App.Tokens.RotateKey(ctx, s.App.Store, token.ES256); err != nil {
				t.Fatal(err)
			}
			s.Clock.Advance(server.RetiredKeyPublished(s.App.Config) + time.Second)
			if err := s.App.ReloadKeys(ctx); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(s.App.Tokens.JWKS()), kid) {
				t.Fatalf("retired key %s still published", kid)
			}
			return [2]any{key, kid}
		},
		build: func(t *testing.T, e *secEnv) string {
			p := e.prepared.([2]any)
			return secSign(t, e.atHeader(p[1].(string)), e.at, p[0].(*ecdsa.PrivateKey))
		}},
	{name: "oversized access token (> 8 KiB, genuinely signed)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, e.atHeader(e.kid), e.accessWith(func(m map[string]any) { m["pad"] = strings.Repeat("x", token.MaxTokenBytes) }), e.key)
	}},
	{name: "oversized refresh token (> 8 KiB, genuinely signed)", build: func(t *testing.T, e *secEnv) string {
		return secSign(t, secRTHeader, e.refreshWith(func(m map[string]any) { m["pad"] = strings.Repeat("x", token.MaxTokenBytes) }), e.secret)
	}},
	{name: "truncated access token", build: func(t *testing.T, e *secEnv) string { return e.v.Access[:len(e.v.Access)*2/3] }},
	{name: "truncated refresh token", build: func(t *testing.T, e *secEnv) string { return e.v.Refresh[:len(e.v.Refresh)-10] }},
	{name: "access token without its signature", build: func(t *testing.T, e *secEnv) string {
		return e.v.Access[:strings.LastIndex(e.v.Access, ".")+1]
	}},
	{name: "non-UTF-8 bytes in an access token", badEncoding: true, build: func(t *testing.T, e *secEnv) string { return "\xff\xfe" + e.v.Access }},
	{name: "non-UTF-8 bytes in a refresh token", badEncoding: true, build: func(t *testing.T, e *secEnv) string {
		return e.v.Refresh[:20] + "\xc3\x28" + e.v.Refresh[20:]
	}},
	{name: "signature of another genuine token", build: func(t *testing.T, e *secEnv) string {
		other := secSignIn(t, e.s, "mallory@example.com")
		return secSwapSig(e.v.Access, other.Access)
	}},
}

func secFlip(tok string) string {
	i := strings.LastIndex(tok, ".") + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func secNum(v any) float64 { f, _ := v.(float64); return f }

func TestTokenAttacksOnEveryRoute(t *testing.T) {
	for _, a := range secAttacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			s := servertest.Start(t, nil)
			var prepared any
			if a.prepare != nil {
				prepared = a.prepare(t, s)
			}
			key, kid, secret := secServerKeys(t, s)
			der := secJWKSDER(t, s)
			for i, rt := range secRoutes {
				if a.only != nil && !slices.Contains(a.only, rt.kind) {
					continue
				}
				v := secSignIn(t, s, "victim@example.com")
				e := &secEnv{s: s, v: v, at: secClaims(t, v.Access), rt: secClaims(t, v.Refresh), kid: kid, key: key,
					secret: secret, jwksDER: der, now: s.Clock.Now(), routeKind: rt.kind, prepared: prepared}
				tok := a.build(t, e)
				before := secSession(t, s, v.SID)
				r := rt.send(t, s, tok, v)
				why := rt.refused(r)
				if why != "" && a.badEncoding && secErrorIs(400, "invalid_request")(r) == "" {
					why = ""
				}
				if why != "" {
					t.Errorf("%s: %s, want the dialect's refusal: %d %s", rt.name, why, r.Status, r.Body)
				}
				if len(tok) > 16 && bytes.Contains(r.Body, []byte(tok)) {
					t.Errorf("%s: the response echoes the token", rt.name)
				}
				after := secSession(t, s, v.SID)
				if a.revokedByRevoke && secRoutes[i].name == "oauth2 POST /oauth/revoke" {
					if !after.Revoked() || after.Generation != before.Generation {
						t.Errorf("%s: revoking a genuine expired token should end its session: %+v", rt.name, after)
					}
					continue
				}
				if after != before {
					t.Errorf("%s: the session changed:\nbefore %+v\n after %+v", rt.name, before, after)
				}
			}
		})
	}
}

// TestTokenAttackControl sends each route the genuine token it expects, so
// that the refusals above are refusals of the attack and not of the route.
func TestTokenAttackControl(t *testing.T) {
	s := servertest.Start(t, nil)
	for _, rt := range secRoutes {
		v := secSignIn(t, s, "victim@example.com")
		tok := v.Access
		if rt.kind == secRefreshRoute || rt.name == "oauth2 POST /oauth/revoke" {
			tok = v.Refresh
		}
		r := rt.send(t, s, tok, v)
		if why := rt.accepted(r); why != "" {
			t.Errorf("%s with a genuine token: %s: %d %s", rt.name, why, r.Status, r.Body)
		}
	}
}

// secJWKSDER fetches the published key from /.well-known/jwks.json, as an
// attacker would, and returns its SubjectPublicKeyInfo DER.
func secJWKSDER(t *testing.T, s *servertest.Server) []byte {
	t.Helper()
	r := secMustDo(t, s, "GET", "/.well-known/jwks.json", "", "")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s: %v", r.Body, err)
	}
	der, err := x509.MarshalPKIXPublicKey(set.Keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
