// Package postgres is the PostgreSQL backend of the store contract, for
// deployments where several Latchkey instances serve one user base.
//
// It talks to PostgreSQL through a pgx connection pool. Open does not touch
// the database; call Ping to check it and Migrate to bring the schema up to
// date (migrations are embedded, applied with goose, and serialised across
// instances by an advisory lock, so many instances may start at once).
//
// Times are stored as bigint Unix nanoseconds, so every time.Time reads back
// exactly (in UTC); the zero time reads back as the zero time. A time at
// exactly the Unix epoch is indistinguishable from the zero time.
//
// Rotate, the hot path, is one UPDATE statement that compares and sets the
// session's generation and checks its user in the same statement; see
// rotate.go for why READ COMMITTED is enough. Concurrent Rotate calls share
// one such statement, for many sessions, and one commit (group commit; see
// batch.go), each call still answered on its own.
//
// Errors: a unique violation is store.ErrConflict; a missing row is
// store.ErrNotFound; a database that cannot be reached, is shutting down or is
// out of connections is store.ErrUnavailable. Each is wrapped with the
// operation and, where there is one, the driver's error.
//
// Every call but Migrate and Purge is bounded by Options.QueryTimeout
// (default 5s), so a database that stops answering yields
// store.ErrUnavailable within that time rather than a hang. The server is
// made to give up on a statement first (statement_timeout, settings.go), so
// that a timed-out write is known not to have happened; a write whose
// outcome stays unknown is store.ErrInDoubt (statement.go). The connections
// pin READ COMMITTED and synchronous_commit (settings.go).
package postgres
