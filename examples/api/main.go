// Command api is an API in a process of its own that trusts Latchkey's
// access tokens: it verifies them locally with Latchkey's JWKS, and refuses
// the tokens of revoked sessions within seconds through the Shared Signals
// receiver (package ssf/receiver), with no call to Latchkey per request.
// docs/revocation.md walks through it; the end-to-end tests run it beside
// the real latchkey binary.
//
//	credential=$(latchkey ssf receiver create api)
//	LATCHKEY_ISSUER=http://127.0.0.1:8080 LATCHKEY_RECEIVER_CREDENTIAL=$credential \
//		go run ./examples/api -addr 127.0.0.1:8090
//
// With -push the receiver asks Latchkey to push events to this process's
// POST /ssf/events instead of polling (Latchkey must be allowed to reach
// it: in production, loopback needs SSF_PUSH_LOOPBACK=on).
//
// Routes: GET /api/me (a Latchkey access token: 200 with the caller's user
// and session, or 401 invalid_token with error_reason session_revoked),
// GET /healthz (200 once the receiver has caught up, else 503), and with
// -push, POST /ssf/events.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/latchkey-dev/latchkey"
	"github.com/latchkey-dev/latchkey/ssf/receiver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	push := flag.Bool("push", false, "receive events by push at POST /ssf/events instead of polling")
	name := flag.String("name", "", "name of this receiver's event stream (default: the host name)")
	audience := flag.String("audience", "latchkey", "aud of the access tokens (Latchkey's JWT_AUDIENCE)")
	interval := flag.Duration("poll-interval", time.Second, "wait between polls")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(*addr, *push, *name, *audience, *interval, log); err != nil {
		log.Error("api stopped", "err", err)
		os.Exit(1)
	}
}

func run(addr string, push bool, name, audience string, interval time.Duration, log *slog.Logger) error {
	issuer, cred := os.Getenv("LATCHKEY_ISSUER"), os.Getenv("LATCHKEY_RECEIVER_CREDENTIAL")
	if issuer == "" || cred == "" {
		return errors.New("set LATCHKEY_ISSUER and LATCHKEY_RECEIVER_CREDENTIAL")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	o := receiver.Options{Issuer: issuer, Credential: cred, Name: name, PollInterval: interval, Logger: log}
	if push {
		o.PushURL = "http://" + ln.Addr().String() + "/ssf/events"
	}
	// The listener is open before the receiver starts, so that Latchkey's
	// first pushes find it; they wait (503) until the receiver is set.
	mux := http.NewServeMux()
	var rcv *receiver.Receiver
	ready := make(chan struct{})
	mux.HandleFunc("POST /ssf/events", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			rcv.Handler().ServeHTTP(w, r)
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	rcv, err = receiver.Start(ctx, o)
	if err != nil {
		return err
	}
	defer rcv.Close()
	close(ready)

	auth := latchkey.NewAuthenticator(latchkey.AuthOptions{Issuer: issuer, Audience: audience,
		Keys: latchkey.RemoteKeys(issuer+"/.well-known/jwks.json", latchkey.RemoteOptions{}), Revoked: rcv.Revoked})
	mux.Handle("GET /api/me", auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := latchkey.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"user\":%q,\"session\":%q}\n", p.UserID, p.SessionID)
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-rcv.Ready():
			fmt.Fprintf(w, "{\"status\":\"ok\",\"revoked_sessions\":%d}\n", rcv.Len())
		default:
			http.Error(w, `{"status":"catching up"}`, http.StatusServiceUnavailable)
		}
	})
	log.Info("api listening", "addr", ln.Addr().String(), "issuer", issuer, "push", push)
	<-ctx.Done()
	return nil
}
