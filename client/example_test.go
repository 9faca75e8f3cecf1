package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"golang.org/x/oauth2"

	"github.com/latchkey-dev/latchkey/client"
)

// These examples need a Latchkey server, so they are compiled but not run
// (they have no Output comment). README.md beside this file has a complete
// program to run against `latchkey serve`.

// A client that keeps its session across restarts: tokens are saved to a
// file at every change and loaded at start. The client uses new tokens only
// after OnTokens has returned, so write them durably before returning
// (os.WriteFile then a rename, in a real application).
func ExampleNew() {
	ctx := context.Background()
	const file = "tokens.json"

	var saved client.Tokens
	if raw, err := os.ReadFile(file); err == nil {
		_ = json.Unmarshal(raw, &saved)
	}
	c, err := client.New("https://auth.example.com",
		client.WithTokens(saved),
		client.OnTokens(func(t client.Tokens) {
			raw, _ := json.Marshal(t)
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				log.Printf("saving tokens: %v", err)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	if c.Tokens().RefreshToken == "" {
		if _, err := c.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil {
			log.Fatal(err)
		}
	}
	me, err := c.Me(ctx)
	if client.IsReauthRequired(err) {
		log.Fatal("the session is over: sign in again")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", me.Email)
}

// Calls to an application's own API carry the access token, refreshed
// before it expires and once more on a 401 whose challenge says
// invalid_token. While the token endpoint is down, calls go on with the
// access token until it expires; then they fail with an error worth
// retrying, not IsReauthRequired.
func ExampleClient_Transport() {
	ctx := context.Background()
	c, err := client.New("https://auth.example.com")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	api := &http.Client{Transport: c.Transport(nil)}
	resp, err := api.Get("https://api.example.com/things")
	if client.IsReauthRequired(err) {
		log.Fatal("the session is over: sign in again")
	}
	if err != nil {
		log.Fatal("retry later: ", err) // the network, or the token endpoint is down
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// Code built on golang.org/x/oauth2 takes the client's TokenSource.
func ExampleClient_TokenSource() {
	ctx := context.Background()
	c, err := client.New("https://auth.example.com")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	api := oauth2.NewClient(ctx, c.TokenSource())
	resp, err := api.Get("https://api.example.com/things")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// Telling "retry later" from "sign in again".
func ExampleIsReauthRequired() {
	c, err := client.New("https://auth.example.com")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Me(context.Background())
	var ce *client.Error
	switch {
	case err == nil:
	case client.IsReauthRequired(err):
		fmt.Println("show the sign-in screen")
	case errors.As(err, &ce) && ce.RetryAfter > 0:
		fmt.Println("retry in", ce.RetryAfter)
	default:
		fmt.Println("retry later:", err)
	}
}

// A session bound to a key the program holds (DPoP, RFC 9449): the key is
// kept beside the tokens, since the tokens are worthless without it.
func ExampleWithDPoP() {
	ctx := context.Background()
	const keyFile = "dpop-key.der"

	var key *ecdsa.PrivateKey
	if der, err := os.ReadFile(keyFile); err == nil {
		if key, err = x509.ParseECPrivateKey(der); err != nil {
			log.Fatal(err)
		}
	} else {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			log.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(keyFile, der, 0o600); err != nil {
			log.Fatal(err)
		}
	}
	c, err := client.New("https://auth.example.com", client.WithDPoP(key))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.SignIn(ctx, "ada@example.com", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Tokens().TokenType) // "DPoP" when the server has DPoP on
	// Every call carries Authorization: DPoP and a new proof of the call.
	api := &http.Client{Transport: c.Transport(nil)}
	resp, err := api.Get("https://api.example.com/things")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	// Code on golang.org/x/oauth2 adds the proofs with DPoPTransport.
	hc := &http.Client{Transport: &oauth2.Transport{Source: c.TokenSource(), Base: c.DPoPTransport(nil)}}
	_ = hc
}
