// Package canonical is Latchkey's own HTTP dialect (docs/api.md):
// camelCase JSON, errors as {"error": code, "message": text} with the stable
// codes of package auth. It decodes, calls the auth.Service and encodes;
// WriteError is its one error-mapping function.
package canonical
