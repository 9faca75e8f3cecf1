// Package client is the Go client of Latchkey's canonical API (docs/api.md):
// sign-up, sign-in, refresh, sign-out and sessions, and an http.RoundTripper
// and an oauth2.TokenSource that keep an access token fresh for the calls
// an application makes to its own APIs.
//
// A Client holds one session's tokens. It refreshes the access token
// shortly before it expires, by durations the server sends (expiresIn)
// measured on the client's own clock, so a client whose clock is wrong still
// refreshes in time. Refreshes are single-flight: however many goroutines
// need one at the same moment, one refresh reaches the server, and a
// goroutine that comes later uses the tokens it got; the client never
// presents a refresh token it has already traded, which the server would
// treat as theft (refresh_token_reused) and answer by revoking the session.
//
// It survives lost answers and outages. Each refresh attempt is bounded (3s
// by default); when its outcome is unknown (no answer, an unreadable one, a
// 5xx) it is retried with the same refresh token while the retry still lands
// within the server's reuse interval (10s by default), in which the server
// answers that token with the current tokens. After a failure further
// refreshes wait for the Retry-After, and at least one second, growing
// while they fail; meanwhile calls go on with the access token as long as
// it has not expired. These rules, which every Latchkey client follows, are
// stated in docs/clients.md ("Refreshing safely").
//
// With WithDPoP the client binds its sessions to a key it holds (DPoP, RFC
// 9449): every sign-in, refresh and call through Transport carries a new
// proof signed by the key, with the server's latest nonce, so tokens taken
// from the client are worthless elsewhere.
//
// Errors from the server are *Error values with a stable Code.
// IsReauthRequired tells the failures that end the session ("sign in
// again") from those worth retrying.
//
// To survive restarts, persist the tokens from the OnTokens hook (the
// refresh token changes at every refresh) and pass them back with
// WithTokens:
//
//	c, err := client.New("https://auth.example.com",
//		client.WithTokens(loadTokens()),
//		client.OnTokens(func(t client.Tokens) { saveTokens(t) }))
//	if err != nil { ... }
//	if c.Tokens().RefreshToken == "" {
//		if _, err := c.SignIn(ctx, email, password); err != nil { ... }
//	}
//	api := &http.Client{Transport: c.Transport(nil)}
//	resp, err := api.Get("https://api.example.com/things")
//	if client.IsReauthRequired(err) { /* show the sign-in screen */ }
package client
