// Package store declares the persistence contract of Latchkey: the records it
// keeps (users, sessions, signing keys, server secrets) and the small Store
// interface every backend implements. The conformance suite in
// store/storetest is the executable form of the contract; store/sqlite and
// store/postgres both run it.
//
// The hot path is Rotate: one atomic compare-and-set on a session's
// generation, joined with its user's status. Everything else is rare.
package store
