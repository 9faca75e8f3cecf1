package openapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/openapi"
	"github.com/latchkey-dev/latchkey/openapi/openapitest"
	"github.com/latchkey-dev/latchkey/server/servertest"
)

// catchAll is the body of the mux's catch-all 404: an answer with any other
// body comes from a registered route.
const catchAll = `{"error":"not_found","message":"no such route"}`

// notYetServed are documented operations whose code is not on this branch
// yet (other branches build them). The test fails
// when one of them is served, so the list only shrinks: remove an entry
// once its route is registered.
var notYetServed = []string{}

func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

// The document loads as OpenAPI 3.1, validates, and says what the brief of
// each route needs: a description, its dialect, a success, the errors every
// route of its kind can meet, and Retry-After wherever a client is told to
// come back.
func TestDocument(t *testing.T) {
	c, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", c.Doc.OpenAPI)
	}
	tags := append(slices.Clone(latchkey.AllDialects()), openapitest.AlwaysOn, "ssf") // ssf: the transmitter (SSF=on)
	for name, op := range operations(c.Doc) {
		has := func(status int) bool { return op.Responses.Status(status) != nil }
		if op.OperationID == "" || op.Summary == "" || op.Description == "" {
			t.Errorf("%s: operationId, summary and description are required", name)
		}
		if len(op.Tags) == 0 || slices.ContainsFunc(op.Tags, func(tag string) bool { return !slices.Contains(tags, tag) }) {
			t.Errorf("%s: tags %v must name its dialects (%v)", name, op.Tags, tags)
		}
		if !slices.ContainsFunc([]int{200, 201, 202, 204}, has) {
			t.Errorf("%s: no success response", name)
		}
		if op.RequestBody != nil && (!has(400) || !has(413)) {
			t.Errorf("%s: a route that reads a body answers 400 and 413", name)
		}
		if op.Security != nil && slices.ContainsFunc(*op.Security, func(r openapi3.SecurityRequirement) bool {
			_, access := r["bearerAuth"]
			_, receiver := r["receiverBearer"]
			return access || receiver
		}) && !has(401) {
			t.Errorf("%s: a bearer route answers 401", name)
		}
		if !slices.Contains(op.Tags, openapitest.AlwaysOn) && !strings.HasPrefix(name, "GET /.well-known/") && !has(503) {
			t.Errorf("%s: a route that uses the database answers 503", name)
		}
		for code, r := range op.Responses.Map() {
			if code == "429" || code == "503" {
				if h := r.Value.Headers["Retry-After"]; h == nil || !h.Value.Required {
					t.Errorf("%s: %s must require Retry-After", name, code)
				}
			}
		}
	}
}

// GET /openapi.json serves exactly the embedded document.
func TestServed(t *testing.T) {
	s := servertest.Start(t, nil)
	r := s.Do(t, "GET", "/openapi.json", nil)
	if r.Status != 200 || string(r.Body) != string(openapi.Document()) || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %v", r.Status, r.Header)
	}
	if r := s.Do(t, "GET", "/openapi.json", nil, "If-None-Match: "+r.Header.Get("ETag")); r.Status != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", r.Status)
	}
}

// Every documented operation is served by the real handler with every
// dialect on: a request to it is answered by something other than the
// catch-all 404. The requests carry no credentials and no body, so nothing
// changes; the handler is called directly, without the contract check,
// because these requests are not what a test of the route would send.
func TestEveryOperationIsServed(t *testing.T) {
	c, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, func(cfg *config.Config) { cfg.Dialects = latchkey.AllDialects() })
	h, err := s.App.Handler()
	if err != nil {
		t.Fatal(err)
	}
	for name := range operations(c.Doc) {
		method, path, _ := strings.Cut(name, " ")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "x"), nil))
		served := strings.TrimSpace(w.Body.String()) != catchAll
		switch pending := slices.Contains(notYetServed, name); {
		case !served && !pending:
			t.Errorf("%s is documented but not served", name)
		case served && pending:
			t.Errorf("%s is served now: remove it from notYetServed", name)
		}
	}
}

// Every route registered on a mux in the server's code is documented. The
// dialects register straight on an *http.ServeMux, which cannot list its
// patterns, so this reads them from the source: the first argument of every
// mux.Handle, mux.HandleFunc and dialect route(...) call in httpapi/ and
// server/, a string constant expression. A pattern the scan cannot read
// fails the test rather than being skipped.
func TestEveryRouteIsDocumented(t *testing.T) {
	c, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	ops := operations(c.Doc)
	patterns := scanPatterns(t, "../httpapi", "../server", "../ssf")
	if len(patterns) < 10 {
		t.Fatalf("found only %d route patterns: %v", len(patterns), patterns)
	}
	for _, p := range patterns {
		method, path, ok := strings.Cut(p.pattern, " ")
		if !ok || strings.Contains(method, "/") {
			method, path = "", p.pattern
		}
		// {$} anchors a ServeMux pattern at the end: "GET /{$}" is GET /.
		path = strings.TrimSuffix(path, "{$}")
		if c.Doc.Paths.Value(path) == nil {
			t.Errorf("%s: route %q: path %s is not in openapi.json", p.pos, p.pattern, path)
			continue
		}
		if method != "" && ops[method+" "+path] == nil {
			t.Errorf("%s: route %q is not in openapi.json", p.pos, p.pattern)
		}
	}
}

type pattern struct{ pos, pattern string }

func scanPatterns(t *testing.T, dirs ...string) []pattern {
	t.Helper()
	var out []pattern
	for _, root := range dirs {
		err := filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			out = append(out, scanPackage(t, dir)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// scanPackage reads the route patterns of one package directory.
func scanPackage(t *testing.T, dir string) []pattern {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	consts := map[string]ast.Expr{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	var eval func(ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, ok1 := eval(e.X)
				b, ok2 := eval(e.Y)
				return a + b, ok1 && ok2
			}
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return eval(v)
			}
		}
		return "", false
	}
	var out []pattern
	for _, f := range files {
		// params holds the parameter names of the enclosing functions: a
		// helper such as route := func(pattern string, ...) { mux.Handle(pattern, ...) }
		// forwards its caller's pattern, which is read at the call site.
		var params []map[string]bool
		var visit func(ast.Node) bool
		visit = func(n ast.Node) bool {
			var ft *ast.FuncType
			var body *ast.BlockStmt
			switch n := n.(type) {
			case *ast.FuncLit:
				ft, body = n.Type, n.Body
			case *ast.FuncDecl:
				ft, body = n.Type, n.Body
			case *ast.CallExpr:
				if !isRouteCall(n) || len(n.Args) == 0 || !stringish(n.Args[0]) {
					return true
				}
				pos := fset.Position(n.Pos()).String()
				if s, ok := eval(n.Args[0]); ok {
					out = append(out, pattern{pos, s})
				} else if id, ok := n.Args[0].(*ast.Ident); !ok || !slices.ContainsFunc(params, func(m map[string]bool) bool { return m[id.Name] }) {
					t.Errorf("%s: cannot read the route pattern; make it a constant expression", pos)
				}
				return true
			}
			if body == nil {
				return true
			}
			m := map[string]bool{}
			for _, fld := range ft.Params.List {
				for _, n := range fld.Names {
					m[n.Name] = true
				}
			}
			params = append(params, m)
			ast.Inspect(body, visit)
			params = params[:len(params)-1]
			return false
		}
		ast.Inspect(f, visit)
	}
	return out
}

// stringish reports whether e can be a pattern: httpapi.Handle(f, ew) also
// matches isRouteCall, but its first argument is a function.
func stringish(e ast.Expr) bool {
	switch e.(type) {
	case *ast.BasicLit, *ast.BinaryExpr, *ast.ParenExpr, *ast.Ident:
		return true
	}
	return false
}

// isRouteCall reports whether call registers a route: x.Handle(...),
// x.HandleFunc(...) or route(...).
func isRouteCall(call *ast.CallExpr) bool {
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		return fn.Sel.Name == "Handle" || fn.Sel.Name == "HandleFunc"
	case *ast.Ident:
		return fn.Name == "route"
	}
	return false
}
