// Package sqlite is the embedded store.Store backend: one SQLite file in WAL
// mode, through the pure-Go (WebAssembly) driver github.com/ncruces/go-sqlite3,
// so the binary needs no cgo.
//
// SQLite has one writer at a time. The DB therefore keeps two database/sql
// pools on the same file: a writer pool of exactly one connection, through
// which every write goes (so writers queue in Go, cancellably, instead of
// spinning on SQLITE_BUSY), and a pool of read-only connections that WAL lets
// run beside the writer. busy_timeout still covers the other processes that
// may open the file, such as the latchkey CLI while the server runs.
//
// Times are stored as INTEGER Unix nanoseconds and come back in UTC; the zero
// time.Time is stored as NULL. Times outside the years 1678 to 2262 cannot be
// represented and are refused with an error rather than silently wrapped.
//
// Open does not migrate: the CLI calls (*DB).Migrate in "serve" and "migrate".
package sqlite
