// Package openapitest checks HTTP exchanges against Latchkey's OpenAPI
// document with kin-openapi (github.com/getkin/kin-openapi). It is for
// tests only: server/servertest wraps every test server's handler in
// Contract.Middleware, so every request a test sends and every response it
// receives is checked, and a test fails on any difference.
//
// The rules, for each exchange:
//
//   - The response must match the document: a documented status, its
//     Content-Type, body schema and required headers (Retry-After on 429 and
//     503, Cache-Control: no-store on token responses, ...). A response the
//     document gives no body must have none.
//   - The request only classifies. A request that conforms must get a
//     documented response (above). A request that violates the document (bad
//     JSON, a missing field, no bearer token, a wrong Content-Type: what
//     bad-input tests send on purpose) must get a 4xx, which must itself be
//     documented: the server may refuse what the document allows, never
//     accept what it forbids.
//   - A route of a dialect switched off (DIALECTS) must answer the
//     catch-all 404 {"error": "not_found", "message": "no such route"}. The
//     tag of each operation names its dialect.
//   - A path or method the document does not list must answer 404 or 405
//     with one of the document's error bodies: an undocumented route that
//     does anything else fails the test.
//   - CORS preflights (OPTIONS with Access-Control-Request-Method) are
//     answered by the CORS middleware on every path and are outside the
//     document; they are skipped, and counted.
//
// The document is OpenAPI 3.1. kin-openapi v0.152 loads and validates 3.1
// documents and checks bodies with a JSON Schema 2020-12 validator
// (santhosh-tekuri/jsonschema), which openapi3filter switches on for 3.1: so
// const, type arrays, if/then and the rest are enforced, not ignored. Two
// limits shape the document: a form-encoded body's schema must be an object
// whose oneOf/anyOf branches repeat a property's type (kin's form decoder
// decodes each branch's properties), and "format" asserts only the formats
// kin registers (date-time, date, byte, int32, int64), so "email", "uuid"
// and "uri" are annotations.
package openapitest
