package storetest

import (
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// proofUse returns a fresh replay-cache record that expires at exp.
func proofUse(exp time.Time) *store.ProofUse {
	k := make([]byte, 32)
	rand.Read(k)
	return &store.ProofUse{Key: k, Expires: exp}
}

const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

func bound(s *store.Session) { s.JKT = jkt }

var dpopCases = []testCase{
	{
		name: "DPoP/SessionKeepsJKT",
		what: "a session created bound to a key thumbprint (JKT) reads back with it, in Session and ListSessions, and keeps it through a rotation",
		run: func(f *fixture) {
			s := f.session(f.user().ID, bound)
			f.unchanged(s)
			list, err := f.s.ListSessions(f.ctx, s.UserID, at(time.Minute))
			if err != nil || len(list) != 1 {
				f.t.Fatalf("ListSessions = %v, %v", list, err)
			}
			f.sameSession("listed", list[0], s)
			p := advance(s, 0, at(time.Hour))
			p.JKT = jkt
			got := f.rotate(p)
			if got.JKT != jkt {
				f.t.Fatalf("rotated session JKT = %q", got.JKT)
			}
		},
	},
	{
		name: "DPoP/RotateComparesJKT",
		what: "Rotate compares the session's binding: a bound session rotated as bearer (JKT empty) or with another thumbprint, and a bearer session rotated with a JKT, are ErrStale and change nothing",
		run: func(f *fixture) {
			u := f.user().ID
			b, plain := f.session(u, bound), f.session(u)
			for _, c := range []struct {
				s   store.Session
				jkt string
			}{{b, ""}, {b, "another"}, {plain, jkt}} {
				p := advance(c.s, 0, at(time.Hour))
				p.JKT = c.jkt
				f.stale(p)
				f.unchanged(c.s)
			}
		},
	},
	{
		name: "DPoP/RotateRecordsProof",
		what: "a Rotate carrying a proof rotates and records it; the same proof on the next generation (or on another session) is ErrReplay and changes nothing; a new proof then rotates",
		run: func(f *fixture) {
			u := f.user().ID
			s, other := f.session(u, bound), f.session(u, bound)
			pr := proofUse(at(time.Hour + time.Minute))
			p := advance(s, 0, at(time.Hour))
			p.JKT, p.Proof = jkt, pr
			want := f.rotate(p)
			for _, target := range []store.Session{want, other} {
				p := advance(target, target.Generation, at(time.Hour+time.Second))
				p.JKT, p.Proof = jkt, pr
				if got, err := f.s.Rotate(f.ctx, p); !errors.Is(err, store.ErrReplay) {
					f.t.Fatalf("replayed proof: Rotate = %+v, %v; want ErrReplay", got, err)
				}
			}
			f.unchanged(want)
			f.unchanged(other)
			p = advance(s, 1, at(time.Hour+2*time.Second))
			p.JKT, p.Proof = jkt, proofUse(at(2*time.Hour))
			if got := f.rotate(p); got.Generation != 2 {
				f.t.Fatalf("generation %d after a fresh proof", got.Generation)
			}
		},
	},
	{
		name: "DPoP/ProofUsedEvenWhenStale",
		what: "a proof that came with a stale Rotate is recorded all the same (a proof is used once, whatever the outcome): UseProof of it is then ErrReplay",
		run: func(f *fixture) {
			s := f.session(f.user().ID, bound)
			pr := proofUse(at(time.Hour + time.Minute))
			p := advance(s, 5, at(time.Hour))
			p.JKT, p.Proof = jkt, pr
			f.stale(p)
			f.unchanged(s)
			f.wantErr("UseProof after a stale Rotate", f.s.UseProof(f.ctx, *pr), store.ErrReplay)
		},
	},
	{
		name: "DPoP/UseProofOnce",
		what: "UseProof records a proof once: the second UseProof of its key, and a Rotate carrying it, are ErrReplay",
		run: func(f *fixture) {
			pr := proofUse(at(time.Minute))
			if err := f.s.UseProof(f.ctx, *pr); err != nil {
				f.t.Fatal(err)
			}
			f.wantErr("second UseProof", f.s.UseProof(f.ctx, *pr), store.ErrReplay)
			s := f.session(f.user().ID, bound)
			p := advance(s, 0, at(time.Second))
			p.JKT, p.Proof = jkt, pr
			if _, err := f.s.Rotate(f.ctx, p); !errors.Is(err, store.ErrReplay) {
				f.t.Fatalf("Rotate with a proof UseProof recorded: %v", err)
			}
			f.unchanged(s)
		},
	},
	{
		name: "DPoP/ParallelReplay",
		what: "one proof presented by many concurrent Rotates of distinct sessions bound to the same key (and UseProofs) is accepted exactly once",
		run: func(f *fixture) {
			u := f.user().ID
			pr := proofUse(at(time.Hour + time.Minute))
			const n = 8
			var sessions []store.Session
			for range n {
				sessions = append(sessions, f.session(u, bound))
			}
			var wg sync.WaitGroup
			errs := make([]error, 2*n)
			for i := range n {
				wg.Add(2)
				go func() {
					defer wg.Done()
					p := advance(sessions[i], 0, at(time.Hour))
					p.JKT, p.Proof = jkt, pr
					_, errs[i] = f.s.Rotate(f.ctx, p)
				}()
				go func() {
					defer wg.Done()
					errs[n+i] = f.s.UseProof(f.ctx, *pr)
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrReplay):
					f.t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 {
				f.t.Fatalf("%d of %d uses of one proof succeeded, want 1", ok, 2*n)
			}
		},
	},
	{
		name: "DPoP/ParallelMixed",
		what: "concurrent Rotates of distinct sessions, bound ones each with its own proof and bearer ones without (a backend may run them in one statement), all rotate, and every proof is recorded",
		run: func(f *fixture) {
			u := f.user().ID
			const n = 16
			type op struct {
				s     store.Session
				proof *store.ProofUse
			}
			ops := make([]op, n)
			for i := range ops {
				if i%2 == 0 {
					ops[i] = op{s: f.session(u, bound), proof: proofUse(at(time.Hour + time.Minute))}
				} else {
					ops[i] = op{s: f.session(u)}
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i, o := range ops {
				wg.Go(func() {
					p := advance(o.s, 0, at(time.Hour))
					p.JKT, p.Proof = o.s.JKT, o.proof
					_, errs[i] = f.s.Rotate(f.ctx, p)
				})
			}
			wg.Wait()
			for i, o := range ops {
				if errs[i] != nil {
					f.t.Fatalf("Rotate %d: %v", i, errs[i])
				}
				if got := f.get(o.s.ID); got.Generation != 1 {
					f.t.Fatalf("session %d at generation %d", i, got.Generation)
				}
				if o.proof != nil {
					f.wantErr("UseProof of a proof a Rotate recorded", f.s.UseProof(f.ctx, *o.proof), store.ErrReplay)
				}
			}
		},
	},
	{
		name: "DPoP/PurgeProofs",
		what: "PurgeProofs deletes exactly the proofs that expired before its cut-off, says how many, and leaves sessions alone",
		run: func(f *fixture) {
			s := f.session(f.user().ID, func(s *store.Session) { s.RevokedAt, s.RevokeReason = at(time.Second), "x" })
			var old []*store.ProofUse
			for range 3 {
				old = append(old, proofUse(at(time.Minute)))
			}
			live := proofUse(at(time.Hour))
			for _, pr := range append(old, live) {
				if err := f.s.UseProof(f.ctx, *pr); err != nil {
					f.t.Fatal(err)
				}
			}
			n, err := f.s.PurgeProofs(f.ctx, at(time.Hour))
			if err != nil || n != 3 {
				f.t.Fatalf("PurgeProofs = %d, %v; want 3", n, err)
			}
			for _, pr := range old {
				if err := f.s.UseProof(f.ctx, *pr); err != nil {
					f.t.Fatalf("purged proof: %v", err)
				}
			}
			f.wantErr("unexpired proof after PurgeProofs", f.s.UseProof(f.ctx, *live), store.ErrReplay)
			f.unchanged(s)
		},
	},
	{
		name: "DPoP/PurgeExpiredProofs",
		what: "Purge forgets the proofs that expired before its cut-off (their key can be recorded again) and keeps the others",
		run: func(f *fixture) {
			old, live := proofUse(at(time.Minute)), proofUse(at(3*time.Hour))
			for _, pr := range []*store.ProofUse{old, live} {
				if err := f.s.UseProof(f.ctx, *pr); err != nil {
					f.t.Fatal(err)
				}
			}
			if _, err := f.s.Purge(f.ctx, at(time.Hour), at(time.Hour)); err != nil {
				f.t.Fatal(err)
			}
			if err := f.s.UseProof(f.ctx, *old); err != nil {
				f.t.Fatalf("purged proof: %v", err)
			}
			f.wantErr("unexpired proof after Purge", f.s.UseProof(f.ctx, *live), store.ErrReplay)
		},
	},
}
