package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/testkit"
	"github.com/latchkey-dev/latchkey/server/servertest"
	"github.com/latchkey-dev/latchkey/store"
)

// Helpers shared by the security_*_test.go files. Every unexported name of
// these files starts with "sec" so that other tests of package e2e can be
// merged beside them without clashes.

const secPassword = "correct horse battery"

// secTokens are a canonical sign-in's tokens and the session they belong to.
type secTokens struct {
	Access, Refresh, SID string
}

// secSignIn signs email up (if needed) and in through the canonical API.
func secSignIn(t testing.TB, s *servertest.Server, email string) secTokens {
	t.Helper()
	tk := s.SignIn(t, email, secPassword)
	return secTokens{Access: tk.AccessToken, Refresh: tk.RefreshToken, SID: secClaims(t, tk.RefreshToken)["sid"].(string)}
}

// secClaims decodes a JWT's payload without verifying it.
func secClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	var m map[string]any
	testkit.Claims(t, tok, &m)
	return m
}

// secGen returns the gen claim of a refresh token.
func secGen(t testing.TB, tok string) int64 {
	t.Helper()
	g, ok := secClaims(t, tok)["gen"].(float64)
	if !ok {
		t.Fatalf("no gen in %v", secClaims(t, tok))
	}
	return int64(g)
}

// secSession reads a session straight from the store.
func secSession(t testing.TB, s *servertest.Server, id string) store.Session {
	t.Helper()
	sess, err := s.App.Store.Session(context.Background(), id)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return sess
}

// secServerKeys returns the server's active access-token key and its
// refresh-token secret: the test plays an insider who can sign anything, to
// show that the claim checks (not only the signature) hold.
func secServerKeys(t testing.TB, s *servertest.Server) (*ecdsa.PrivateKey, string, []byte) {
	t.Helper()
	ctx := context.Background()
	keys, err := s.App.Store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var k store.SigningKey
	for _, x := range keys {
		if x.RetiredAt.IsZero() {
			k = x
		}
	}
	raw, err := x509.ParsePKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(s.App.Config.RefreshTokenSecret)
	if len(secret) == 0 {
		if secret, err = s.App.Store.Secret(ctx, "refresh_token_secret", nil); err != nil {
			t.Fatal(err)
		}
	}
	return raw.(*ecdsa.PrivateKey), k.KID, secret
}

// secSign builds a compact JWS from header and claims. alg "none" leaves the
// signature empty; HS256 needs a []byte key, ES256 an *ecdsa.PrivateKey.
func secSign(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(h) + "." + b64(c)
	switch header["alg"] {
	case "none":
		return input + "."
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil))
	case "ES256":
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return input + "." + b64(sig)
	}
	t.Fatalf("secSign: algorithm %v", header["alg"])
	return ""
}

// secResponse is a response read whole.
type secResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// secDo sends a raw request (the body and headers exactly as given, so
// invalid UTF-8 reaches the server) and reads the whole response. It is
// safe to call from several goroutines; it reports transport failures as an
// error instead of failing the test.
func secDo(c *http.Client, method, url, ctype, body string, headers ...string) (*secResponse, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &secResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// secMustDo is secDo for the test's own goroutine.
func secMustDo(t testing.TB, s *servertest.Server, method, path, ctype, body string, headers ...string) *secResponse {
	t.Helper()
	r, err := secDo(s.Client(), method, s.URL+path, ctype, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// secJSONString quotes s as a JSON string without replacing invalid UTF-8,
// so the server sees the attacker's exact bytes.
func secJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
