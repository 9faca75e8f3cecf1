// Package web is the account page the binary serves at GET /: sign in,
// watch the session's access token count down and renew itself through the
// cookie dialect, list the user's sessions and revoke them, sign out here or
// everywhere; change the password, ask for a reset link and follow it,
// follow a verification link.
//
// The page is four embedded files, index.html, app.js, password.js (the
// password forms) and app.css, plain
// HTML, CSS and JavaScript with no framework and no build step. The script
// keeps the access token in memory only; the refresh token lives in the
// HttpOnly cookie that sign-in sets and GET /api/refresh/refreshtoken
// rotates, and the script never sees it. Several tabs of the page share one
// cookie, so they take turns: a Web Lock (navigator.locks, name
// "latchkey-refresh") lets one tab refresh at a time, and a BroadcastChannel
// ("latchkey") hands the new access token, and sign-outs, to the others.
// app.js explains the protocol.
//
// Handler serves the four files with a strict Content-Security-Policy; the
// server registers it for GET /{$}, GET /app.js, GET /password.js and GET
// /app.css.
package web
