package latchkey_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/auth"
	"github.com/latchkey-dev/latchkey/store"
	"github.com/latchkey-dev/latchkey/store/sqlite"
)

// Mount Latchkey under /auth in a host server, over its own SQLite store.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "latchkey-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	lk, err := latchkey.New(ctx, latchkey.Options{
		Store:         st,
		Issuer:        "http://" + srv.Listener.Addr().String() + "/auth",
		Prefix:        "/auth",
		RefreshSecret: []byte("a-secret-of-at-least-32-bytes!!!"),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", lk)
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	post := func(path, body string) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(post("/auth/auth/sign-up", `{"email":"ann@example.com","password":"correct horse"}`))
	fmt.Println(post("/auth/auth/sign-in", `{"email":"ann@example.com","password":"correct horse"}`))
	// Output:
	// 201
	// 200
}

// Protect the host's own route with Latchkey access tokens.
func ExampleHandler_Middleware() {
	var lk *latchkey.Handler // from latchkey.New
	if lk == nil {
		return
	}
	http.Handle("GET /api/profile", lk.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "user %s, session %s", p.UserID, p.SessionID)
	})))
}

// A separate service that only knows the JWKS URL.
func ExampleRemoteKeys() {
	a := latchkey.NewAuthenticator(latchkey.AuthOptions{
		Issuer: "https://auth.example.com",
		Keys:   latchkey.RemoteKeys("https://auth.example.com/.well-known/jwks.json", latchkey.RemoteOptions{}),
	})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		fmt.Fprintln(w, "hello", p.UserID)
	})
	rec := httptest.NewRecorder()
	a.Middleware(api).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil)) // no token
	fmt.Println(rec.Code)
	// Output: 401
}

// appUsers keeps the application's own accounts (here in memory; in an
// application, its users table) and implements auth.Users.
type appUsers map[string]store.User // by email

func (u appUsers) UserByEmail(_ context.Context, email string) (store.User, error) {
	if usr, ok := u[email]; ok {
		return usr, nil
	}
	return store.User{}, store.ErrNotFound
}

func (u appUsers) UserByID(_ context.Context, id string) (store.User, error) {
	for _, usr := range u {
		if usr.ID == id {
			return usr, nil
		}
	}
	return store.User{}, store.ErrNotFound
}

func (u appUsers) VerifyPassword(_ context.Context, usr store.User, pw string) (bool, error) {
	return bcrypt.CompareHashAndPassword([]byte(usr.PasswordHash), []byte(pw)) == nil, nil
}

// Bring your own users: Latchkey then keeps only sessions and tokens.
func Example_users() {
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	users := appUsers{"ann@example.com": {ID: "u-1", Email: "ann@example.com", PasswordHash: string(hash), Status: store.UserActive}}

	dir, _ := os.MkdirTemp("", "latchkey-example")
	defer os.RemoveAll(dir)
	st, _ := sqlite.Open(ctx, filepath.Join(dir, "latchkey.db"))
	defer st.Close()
	_ = st.Migrate(ctx)
	lk, err := latchkey.New(ctx, latchkey.Options{Store: st, Users: users, Issuer: "http://localhost",
		RefreshSecret: []byte("a-secret-of-at-least-32-bytes!!!"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	g, err := lk.Service.SignIn(ctx, "ann@example.com", "correct horse", auth.Meta{})
	fmt.Println(err == nil, g.Session.UserID)
	_, err = lk.Service.SignUp(ctx, "bob@example.com", "password123")
	fmt.Println(auth.ErrorCode(err)) // sign-up belongs to the application
	// Output:
	// true u-1
	// not_implemented
}
