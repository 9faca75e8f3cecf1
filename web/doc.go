// Package web is the account page the binary serves at GET /: sign in,
// watch the session's access token count down and renew itself through the
// cookie dialect, list the user's sessions and revoke them, sign out here or
// everywhere; change the password, ask for a reset link and follow it,
// follow a verification link.
//
// The page is four embedded files, index.html, app.js, password.js (the
// password forms) and app.css, with no framework. app.js is a bundle:
// sdk/browser/build.mjs makes it of web/page/app.js and the browser SDK
// (sdk/browser), and a test fails when the committed bundle is not a fresh
// build of both. The SDK runs in cookie mode: the access token lives in
// memory only; the refresh token lives in the HttpOnly cookie that sign-in
// sets and GET /api/refresh/refreshtoken rotates, and the script never sees
// it. Several tabs of the page share one cookie, so they take turns: a Web
// Lock (navigator.locks, name "latchkey-refresh") lets one tab refresh at a
// time, and a BroadcastChannel ("latchkey") hands the new access token, and
// sign-outs, to the others. sdk/browser/README.md explains the protocol.
//
// Handler serves the four files with a strict Content-Security-Policy; the
// server registers it for GET /{$}, GET /app.js, GET /password.js and GET
// /app.css.
package web
