// Package bench holds benchmarks that measure Latchkey through its domain
// (auth.Service) on each storage backend in the same run, so their figures
// can be set side by side:
//
//	LATCHKEY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -run '^$' -bench . -benchtime 3s ./bench
//
// It has no code of its own; without LATCHKEY_TEST_POSTGRES_URL the
// PostgreSQL benchmarks skip.
package bench
