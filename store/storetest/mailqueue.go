package storetest

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// enqueue queues n messages created one second apart from t and returns
// their ids, oldest first.
func (f *credFixture) enqueue(n int, t time.Time) []string {
	f.t.Helper()
	ids := make([]string, n)
	for i := range n {
		m := mailFor(store.TokenPasswordReset, t.Add(time.Duration(i)*time.Second))
		if err := f.c.EnqueueMail(f.ctx, m); err != nil {
			f.t.Fatalf("EnqueueMail: %v", err)
		}
		ids[i] = m.ID
	}
	return ids
}

func (f *credFixture) lease(owner string, t time.Time, lease time.Duration, limit int) []store.Mail {
	f.t.Helper()
	ms, err := f.c.LeaseMail(f.ctx, owner, t, lease, limit)
	if err != nil {
		f.t.Fatalf("LeaseMail(%s): %v", owner, err)
	}
	return ms
}

func mailIDs(ms []store.Mail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

const mailLease = time.Minute

var mailCases = []credCase{
	{
		name: "Mail/LeaseOldestFirst",
		what: "LeaseMail returns due messages oldest first, at most limit, each with its lease owner and end",
		run: func(f *credFixture) {
			ids := f.enqueue(3, at(0))
			now := at(time.Hour)
			got := f.lease("a", now, mailLease, 2)
			f.sameIDs("leased", mailIDs(got), ids[:2])
			for _, m := range got {
				f.report("leased "+m.ID, slices.Concat(field("LeaseOwner", m.LeaseOwner, "a"), sameTime("LeaseUntil", m.LeaseUntil, now.Add(mailLease)),
					field("Attempts", m.Attempts, 0)))
			}
			f.sameIDs("leased next", mailIDs(f.lease("a", now, mailLease, 10)), ids[2:])
		},
	},
	{
		name: "Mail/LeaseExclusive",
		what: "a leased message is not leased to another owner until its lease has passed (a sender that died), and then it is",
		run: func(f *credFixture) {
			ids := f.enqueue(2, at(0))
			f.sameIDs("leased by a", mailIDs(f.lease("a", at(time.Hour), mailLease, 10)), ids)
			if got := f.lease("b", at(time.Hour+mailLease-time.Microsecond), mailLease, 10); len(got) != 0 {
				f.t.Fatalf("b leased %q while a's lease held", mailIDs(got))
			}
			f.sameIDs("leased by b after a's lease", mailIDs(f.lease("b", at(time.Hour+mailLease), mailLease, 10)), ids)
			err := f.c.FinishMail(f.ctx, ids[0], "a", at(time.Hour+mailLease))
			f.wantErr("FinishMail by the owner of a lapsed lease", err, store.ErrStale)
		},
	},
	{
		name: "Mail/Finish",
		what: "FinishMail deletes a message for its lease owner only (another owner gets ErrStale), and MailStats counts the queue and names its oldest message",
		run: func(f *credFixture) {
			if s := f.stats(); s.Queued != 0 || !s.Oldest.IsZero() {
				f.t.Errorf("empty queue: MailStats = %+v", s)
			}
			ids := f.enqueue(3, at(0))
			if s := f.stats(); s.Queued != 3 || !s.Oldest.Equal(at(0)) {
				f.t.Errorf("MailStats = %+v, want 3 queued, oldest at %s", s, at(0))
			}
			now := at(time.Hour)
			f.lease("a", now, mailLease, 1)
			f.wantErr("FinishMail by another owner", f.c.FinishMail(f.ctx, ids[0], "b", now), store.ErrStale)
			if err := f.c.FinishMail(f.ctx, ids[0], "a", now); err != nil {
				f.t.Fatalf("FinishMail: %v", err)
			}
			if s := f.stats(); s.Queued != 2 || !s.Oldest.Equal(at(time.Second)) {
				f.t.Errorf("after one finished: MailStats = %+v, want 2 queued, oldest at %s", s, at(time.Second))
			}
			f.wantErr("FinishMail twice", f.c.FinishMail(f.ctx, ids[0], "a", now), store.ErrStale)
		},
	},
	{
		name: "Mail/Retry",
		what: "RetryMail counts the attempt, keeps the error, releases the lease and makes the message due only at the time given",
		run: func(f *credFixture) {
			ids := f.enqueue(1, at(0))
			now := at(time.Hour)
			f.lease("a", now, mailLease, 1)
			f.wantErr("RetryMail by another owner", f.c.RetryMail(f.ctx, ids[0], "b", now, now, "x"), store.ErrStale)
			next := now.Add(30 * time.Second)
			if err := f.c.RetryMail(f.ctx, ids[0], "a", now, next, "421 try later"); err != nil {
				f.t.Fatalf("RetryMail: %v", err)
			}
			if got := f.lease("b", next.Add(-time.Microsecond), mailLease, 1); len(got) != 0 {
				f.t.Fatalf("leased before its next attempt: %q", mailIDs(got))
			}
			got := f.lease("b", next, mailLease, 1)
			if len(got) != 1 {
				f.t.Fatalf("not leased at its next attempt")
			}
			f.report("retried message", slices.Concat(field("Attempts", got[0].Attempts, 1), field("LastError", got[0].LastError, "421 try later"),
				sameTime("NextAttemptAt", got[0].NextAttemptAt, next), field("LeaseOwner", got[0].LeaseOwner, "b")))
		},
	},
	{
		name: "Mail/ConcurrentLeases",
		what: "owners leasing concurrently (as the senders of several instances do) never lease one message twice, and between them lease every message",
		run: func(f *credFixture) {
			ids := f.enqueue(60, at(0))
			var (
				mu   sync.Mutex
				seen = map[string]string{}
				dup  []string
				errs []error
				wg   sync.WaitGroup
			)
			for o := range 4 {
				owner := string(rune('a' + o))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 30 {
						ms, err := f.c.LeaseMail(f.ctx, owner, at(time.Hour), mailLease, 3)
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						}
						for _, m := range ms {
							if prev, ok := seen[m.ID]; ok {
								dup = append(dup, m.ID+" by "+prev+" and "+owner)
							}
							seen[m.ID] = owner
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				f.t.Fatalf("%d leases failed, first: %v", len(errs), errors.Join(errs...))
			}
			if len(dup) > 0 {
				f.t.Fatalf("leased twice: %q", dup)
			}
			if len(seen) != len(ids) {
				f.t.Errorf("%d of %d messages leased", len(seen), len(ids))
			}
		},
	},
}
