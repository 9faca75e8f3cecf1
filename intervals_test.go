package latchkey_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey"
)

// attack: a background job's interval written without its unit
// (KeyReloadInterval: 30, meaning seconds, is 30 ns) was accepted: the job
// then ran back to back, each run failing at once on its 30 ns deadline,
// and logged a warning each time (measured: 98,408 reads of the signing
// keys and as many warnings in one second). New refuses it, naming the
// field, as it refuses a Policy with a missing lifetime.
func TestNewRefusesIntervalsWithoutUnit(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "lk.db"))
	for _, tc := range []struct {
		mod   func(*latchkey.Options)
		field string
	}{
		{func(o *latchkey.Options) { o.KeyReloadInterval = 30 }, "KeyReloadInterval"},
		{func(o *latchkey.Options) { o.PurgeInterval = 3600 }, "PurgeInterval"},
		{func(o *latchkey.Options) { o.DPoPPurgeInterval = 60 }, "DPoPPurgeInterval"},
	} {
		o := latchkey.Options{Store: st, Issuer: "http://localhost", RefreshSecret: []byte(strings.Repeat("r", 32))}
		tc.mod(&o)
		h, err := latchkey.New(context.Background(), o)
		if err == nil {
			h.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s of a few nanoseconds: %v; want an error naming it", tc.field, err)
		}
	}
	o := latchkey.Options{Store: st, Issuer: "http://localhost", RefreshSecret: []byte(strings.Repeat("r", 32)),
		KeyReloadInterval: 30 * time.Second, PurgeInterval: -1}
	h, err := latchkey.New(context.Background(), o)
	if err != nil {
		t.Fatalf("intervals with units: %v", err)
	}
	h.Close()
}
