// Package feathers is the FeathersJS dialect: the /authentication service
// that @feathersjs/authentication-client v5 talks to over
// @feathersjs/rest-client.
//
// What the client sends and expects, read from the v5 packages:
//
//   - authenticate(data) and reAuthenticate() both POST /authentication
//     (the service's create) with a JSON body: {strategy: "local", email,
//     password} to sign in, {strategy: "jwt", accessToken} to re-authenticate
//     with the stored token. The client stores the response's accessToken
//     under "feathers-jwt" and keeps the whole response as its
//     authentication state; other services read the token from there and
//     send it as "Authorization: Bearer <token>".
//   - logout() calls remove(null): DELETE /authentication with that header.
//     A Feathers server's remove answers the authentication result of the
//     token; remove(id) with an id expects the id to be the access token.
//   - Errors are read from the body: convert() picks the error class by the
//     body's "name" and copies message, code, className and data. On a code
//     from 401 to 407 the client drops its stored token.
//
// Feathers has no refresh token of its own; the refresh-token recipe
// FeathersJS apps commonly add is served here: the sign-in response carries
// a refreshToken, and {action: "refresh", refresh_token} on the same create
// trades it for new tokens. action "refresh" wins over any strategy in the
// same body (clients send both). Every answer from create is 201, as
// Feathers' REST transport answers a create.
//
// WriteError is the dialect's one error mapping: every failure is a Feathers
// error body {name, message, code, className, data}, with Latchkey's reason
// code in data.reason.
package feathers
