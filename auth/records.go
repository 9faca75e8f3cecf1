package auth

import "github.com/latchkey-dev/latchkey/store"

// The records the domain hands out and takes in. They are the store's own
// (aliases, not copies), named here so that the layers above the domain
// (the dialects, the host application) never need to import store.
type (
	// User is an account: id, normalised email, password hash, status.
	User = store.User
	// Session is one sign-in, the refresh-token family.
	Session = store.Session
	// UserStatus is an account's state, checked at every refresh.
	UserStatus = store.UserStatus
)

// The account states.
const (
	UserActive   = store.UserActive
	UserInactive = store.UserInactive
)
