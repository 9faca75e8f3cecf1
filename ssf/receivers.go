package ssf

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/latchkey-dev/latchkey/httpapi"
	"github.com/latchkey-dev/latchkey/store"
)

// credentialPrefix starts every receiver credential, so that a leaked one is
// recognisable (secret scanners, logs) for what it is.
const credentialPrefix = "lkr_"

// CredentialHash is what the store keeps of a receiver credential: its
// SHA-256. The credential is 32 random bytes, so a fast hash is enough (no
// guessing can find a preimage) and lookup by hash takes one indexed read.
func CredentialHash(credential string) []byte {
	h := sha256.Sum256([]byte(credential))
	return h[:]
}

// credentialShape is what CreateReceiver makes: the prefix and 32 bytes in
// unpadded base64url.
var credentialShape = regexp.MustCompile(`^` + credentialPrefix + `[A-Za-z0-9_-]{43}$`)

// validName is what a receiver may be called: it appears in the CLI's
// output and in logs.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateReceiver registers a receiver called name whose SETs carry audience
// (name when ""), and returns it with its credential. The credential is
// shown once: only its hash is stored. A taken name is store.ErrConflict.
func CreateReceiver(ctx context.Context, feed store.Feed, name, audience string, now time.Time) (store.Receiver, string, error) {
	if !validName.MatchString(name) {
		return store.Receiver{}, "", fmt.Errorf("receiver name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	if audience == "" {
		audience = name
	}
	if len(audience) > maxURILength {
		return store.Receiver{}, "", errors.New("the audience is too long")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return store.Receiver{}, "", err
	}
	cred := credentialPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	r := store.Receiver{ID: newID(), Name: name, Audience: audience, CredentialHash: CredentialHash(cred), CreatedAt: now.UTC()}
	if err := feed.CreateReceiver(ctx, r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Receiver{}, "", fmt.Errorf("a receiver called %q exists: %w", name, store.ErrConflict)
		}
		return store.Receiver{}, "", err
	}
	return r, cred, nil
}

// ReceiverByName returns the receiver called name; store.ErrNotFound if none.
func ReceiverByName(ctx context.Context, feed store.Feed, name string) (store.Receiver, error) {
	rs, err := feed.Receivers(ctx)
	if err != nil {
		return store.Receiver{}, err
	}
	for _, r := range rs {
		if r.Name == name {
			return r, nil
		}
	}
	return store.Receiver{}, fmt.Errorf("no receiver called %q: %w", name, store.ErrNotFound)
}

// receiverHandler is a handler of the management and poll routes: it runs
// for an authenticated receiver.
type receiverHandler func(w http.ResponseWriter, r *http.Request, rcv store.Receiver) error

// receiver authenticates the request's bearer credential (RFC 6750 §2.1)
// and runs h for its receiver. A missing or unknown credential is 401, and
// nothing else is done.
func (t *Transmitter) receiver(h receiverHandler) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		cred, ok := httpapi.BearerToken(r)
		if !ok {
			return &httpapi.Error{Status: http.StatusUnauthorized, Code: "authentication_failed",
				Message: "a receiver credential is required (Authorization: Bearer <credential>)"}
		}
		var rcv store.Receiver
		err := store.ErrNotFound // what cannot be a credential is refused without a database read
		if credentialShape.MatchString(cred) {
			rcv, err = t.feed.ReceiverByCredential(r.Context(), CredentialHash(cred))
		}
		if errors.Is(err, store.ErrNotFound) {
			return &httpapi.Error{Status: http.StatusUnauthorized, Code: "authentication_failed",
				Message: "the receiver credential is not valid"}
		}
		if err != nil {
			return storeErr(err)
		}
		httpapi.NoStore(w)
		return h(w, r, rcv)
	}
}

// ownStream returns the stream id names if it belongs to rcv. Another
// receiver's stream is reported exactly like a missing one (404), so
// receivers cannot learn which stream ids exist.
func (t *Transmitter) ownStream(ctx context.Context, rcv store.Receiver, id string) (store.Stream, error) {
	if id == "" {
		return store.Stream{}, badRequest("stream_id is required")
	}
	if len(id) > 128 {
		return store.Stream{}, notFound()
	}
	s, err := t.feed.Stream(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.ReceiverID != rcv.ID) {
		return store.Stream{}, notFound()
	}
	if err != nil {
		return store.Stream{}, storeErr(err)
	}
	t.touch(ctx, s.ID)
	return s, nil
}

// touch records that the stream's receiver is alive, at most once per
// Inactivity/24 per instance, so the feed is written rarely. A failure is
// only logged: the next call tries again.
func (t *Transmitter) touch(ctx context.Context, streamID string) {
	now := t.now().UTC()
	t.mu.Lock()
	last, ok := t.lastTouch[streamID]
	fresh := ok && now.Sub(last) < t.o.Inactivity/24
	if !fresh {
		t.lastTouch[streamID] = now
		if len(t.lastTouch) > 10_000 {
			clear(t.lastTouch)
		}
	}
	t.mu.Unlock()
	if fresh {
		return
	}
	if err := t.feed.TouchStream(ctx, streamID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.log.WarnContext(ctx, "ssf: cannot record a receiver's activity", "stream_id", streamID, "err", err)
	}
}
