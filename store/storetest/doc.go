// Package storetest is the conformance suite of the store.Store contract:
// every backend's test file calls Run with a constructor of fresh, migrated,
// empty stores, and passes when it behaves as store.go documents.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite is a table of cases, each with a sentence saying what it checks
// (printed when the case fails). Each case gets its own store. Time never
// passes by itself: every case uses fixed times, handed to the store as the
// caller's clock, so no case sleeps. Times are compared exactly and must come
// back in UTC; the suite never relies on precision finer than a microsecond,
// the finest PostgreSQL keeps.
//
// Refresh-token reuse and family revocation are decided by the auth package,
// which calls Rotate and then reads the session; this suite checks the
// building blocks those decisions rest on (a failed Rotate changes nothing,
// and Session shows the generation and last refresh time that follow a
// successful one). The policy itself is checked with the domain on top, on
// every backend, by auth/authtest.RunPolicy: the contract suite knows
// nothing of the layers above the store.
package storetest
