// Package server wires Latchkey together from its parts: it opens the store
// named by DATABASE_URL, obtains the secrets and signing keys (generating and
// storing them in development), builds the auth.Service and mounts the
// enabled HTTP dialects. cmd/latchkey is a thin command line over it, and an
// application embedding Latchkey uses the same code.
package server
