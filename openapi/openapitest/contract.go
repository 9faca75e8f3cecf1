package openapitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/latchkey-dev/latchkey/openapi"
)

// AlwaysOn is the tag of the operations routes, which belong to no dialect.
const AlwaysOn = "operations"

// Contract is the loaded, validated document with its router. It is safe for
// concurrent use.
type Contract struct {
	Doc    *openapi3.T
	router routers.Router
	// errorSchemas are the error bodies an undocumented route may answer.
	errorSchemas []*openapi3.Schema
	// catchAll is the schema of the catch-all 404's body.
	catchAll *openapi3.Schema
}

var (
	loadOnce sync.Once
	loaded   *Contract
	loadErr  error
)

// Load returns the contract of the embedded document, loading, validating
// and compiling it once per test binary.
func Load() (*Contract, error) {
	loadOnce.Do(func() { loaded, loadErr = load(openapi.Document()) })
	return loaded, loadErr
}

func load(data []byte) (*Contract, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: router: %w", err)
	}
	c := &Contract{Doc: doc, router: router}
	for _, name := range []string{"CanonicalError", "OAuthError", "LoginError", "CookieError", "FeathersError"} {
		s := doc.Components.Schemas[name]
		if s == nil || s.Value == nil {
			return nil, fmt.Errorf("openapi.json: components.schemas.%s is missing", name)
		}
		c.errorSchemas = append(c.errorSchemas, s.Value)
	}
	c.catchAll = &openapi3.Schema{AllOf: openapi3.SchemaRefs{doc.Components.Schemas["CanonicalError"]},
		Properties: openapi3.Schemas{"error": openapi3.NewSchemaRef("", &openapi3.Schema{Enum: []any{"not_found"}})}}
	return c, nil
}

// Exchange is one request and its response, as a server saw them.
type Exchange struct {
	// Request has its body reset to RequestBody.
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Outcome is what Check found.
type Outcome int

const (
	Checked  Outcome = iota // checked against a documented operation
	Unrouted                // no documented operation; checked as an undocumented route
	Skipped                 // outside the contract (CORS preflight)
)

// Check returns the contract violations of ex (none means it conforms).
// enabled reports whether a dialect (an operation's tag) is switched on.
func (c *Contract) Check(ex Exchange, enabled func(dialect string) bool) (Outcome, []string) {
	r := ex.Request
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		return Skipped, nil
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return Unrouted, []string{fmt.Sprintf("router: %v", err)}
		}
		return Unrouted, c.checkUndocumented(ex)
	}
	if !c.dialectOn(route.Operation, enabled) {
		if ex.Status == http.StatusNotFound && c.valid(c.catchAll, ex.Body) {
			return Checked, nil
		}
		return Checked, []string{fmt.Sprintf("the dialect of this route (%s) is off: want the catch-all 404, got %d %s",
			strings.Join(route.Operation.Tags, ", "), ex.Status, clip(ex.Body))}
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: authenticate, SkipSettingDefaults: true, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	var out []string
	if reqErr != nil && (ex.Status < 400 || ex.Status > 499) {
		out = append(out, fmt.Sprintf("the request violates the document, so the answer must be a 4xx, got %d: %s", ex.Status, oneLine(reqErr)))
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.Status, Header: ex.Header, Options: opts}
	rin.SetBodyBytes(ex.Body)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		out = append(out, fmt.Sprintf("response %d does not match the document: %s; body %s", ex.Status, oneLine(err), clip(ex.Body)))
	} else if resp := route.Operation.Responses.Status(ex.Status); resp != nil && resp.Value != nil &&
		len(resp.Value.Content) == 0 && len(ex.Body) > 0 && r.Method != http.MethodHead {
		out = append(out, fmt.Sprintf("response %d has a body the document does not give it: %s", ex.Status, clip(ex.Body)))
	}
	return Checked, out
}

// checkUndocumented is the rule for a path or method the document does not
// list: 404 or 405 with one of the documented error bodies, or, for a path
// that is not in canonical form ("/a/../b", "//x"), net/http.ServeMux's
// redirect to the cleaned path.
func (c *Contract) checkUndocumented(ex Exchange) []string {
	if ex.Status == http.StatusTemporaryRedirect || ex.Status == http.StatusMovedPermanently || ex.Status == http.StatusPermanentRedirect {
		if p := ex.Request.URL.Path; p != cleanPath(p) && ex.Header.Get("Location") != "" {
			return nil
		}
	}
	if ex.Status == http.StatusNotFound || ex.Status == http.StatusMethodNotAllowed {
		for _, s := range c.errorSchemas {
			if c.valid(s, ex.Body) {
				return nil
			}
		}
	}
	return []string{fmt.Sprintf("undocumented route answered %d %s: document it, or answer 404/405 with a documented error body",
		ex.Status, clip(ex.Body))}
}

func (c *Contract) dialectOn(op *openapi3.Operation, enabled func(string) bool) bool {
	if enabled == nil || slices.Contains(op.Tags, AlwaysOn) {
		return true
	}
	return slices.ContainsFunc(op.Tags, enabled)
}

// valid reports whether body is JSON that s accepts (JSON Schema 2020-12,
// as for a 3.1 document).
func (c *Contract) valid(s *openapi3.Schema, body []byte) bool {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return false
	}
	return s.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()) == nil
}

// authenticate checks that the credentials a security scheme asks for are
// present and well-formed, not that they are valid: validity is the
// server's business, and a request with a forged token conforms.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	s := in.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" || len(r.Header.Values("Authorization")) != 1 {
			return in.NewError(errors.New("no bearer token"))
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "dpop"):
		// RFC 9449 §7.1: the token with the DPoP scheme, and one DPoP proof.
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "DPoP") || strings.TrimSpace(tok) == "" || len(r.Header.Values("Authorization")) != 1 ||
			len(r.Header.Values("DPoP")) != 1 {
			return in.NewError(errors.New("no DPoP-bound token with its proof"))
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "basic"):
		if _, _, ok := r.BasicAuth(); !ok {
			return in.NewError(errors.New("no HTTP Basic credentials"))
		}
	case s.Type == "apiKey" && s.In == "cookie":
		// The refresh cookie's name is a setting (REFRESH_COOKIE_NAME,
		// __Host-refreshToken say): any non-empty cookie stands in for the
		// documented default name.
		if ck, err := r.Cookie(s.Name); (err != nil || ck.Value == "") && !slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool { return c.Value != "" }) {
			return in.NewError(fmt.Errorf("no %s cookie", s.Name))
		}
	default:
		return in.NewError(fmt.Errorf("unsupported security scheme %s/%s", s.Type, s.Scheme))
	}
	return nil
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// cleanPath is ServeMux's canonical form of a path (path.Clean keeping a
// trailing slash).
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
