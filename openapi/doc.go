// Package openapi holds Latchkey's OpenAPI 3.1 document (openapi.json),
// embedded in the binary and served at GET /openapi.json. The document is
// written by hand and is the contract of every route of every dialect; the
// HTTP test suite checks the server against it on every request it makes
// (package openapitest, used by server/servertest), so the two cannot drift.
//
// This package has no dependencies: the OpenAPI tooling (kin-openapi) is
// only linked into tests.
package openapi
