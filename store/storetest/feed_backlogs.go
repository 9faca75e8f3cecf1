package storetest

import (
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

var backlogCases = []testCase{
	{
		name: "Feed/Backlogs",
		what: "Backlogs reports every enabled stream (not a paused one) with its receiver's name and delivery, and the time of the oldest event it receives and has not had acknowledged: none when caught up, an event of another stream not counted, none again once acknowledged",
		run: func(f *fixture) {
			r := f.receiver()
			poll := f.stream(r.ID)
			push := f.stream(r.ID, func(s *store.Stream) { s.Push, s.EndpointURL = true, "https://api.example/ssf" })
			f.stream(r.ID, func(s *store.Stream) { s.Status = store.StreamPaused })
			backlogs := func() map[string]store.Backlog {
				f.t.Helper()
				l, err := f.feed().Backlogs(f.ctx)
				if err != nil {
					f.t.Fatalf("Backlogs: %v", err)
				}
				out := map[string]store.Backlog{}
				for _, b := range l {
					out[b.StreamID] = b
				}
				return out
			}
			want := func(got map[string]store.Backlog, s store.Stream, oldest time.Time) {
				f.t.Helper()
				b, ok := got[s.ID]
				if !ok {
					f.t.Errorf("Backlogs: no stream %s", s.ID)
					return
				}
				if b.Receiver != r.Name || b.Push != s.Push || !b.Oldest.Equal(oldest) {
					f.t.Errorf("Backlogs[%s] = %+v, want receiver %s, push %v, oldest %s", s.ID, b, r.Name, s.Push, oldest)
				}
			}
			got := backlogs()
			if len(got) != 2 {
				f.t.Errorf("Backlogs = %v, want the 2 enabled streams", got)
			}
			want(got, poll, time.Time{})
			want(got, push, time.Time{})

			e1 := f.verification(poll.ID, "a", base.Add(5*time.Second))
			e2 := f.verification(poll.ID, "b", base.Add(7*time.Second))
			got = backlogs()
			want(got, poll, base.Add(5*time.Second))
			want(got, push, time.Time{})
			f.ack(poll.ID, e1.ID)
			want(backlogs(), poll, base.Add(7*time.Second))
			f.ack(poll.ID, e2.ID)
			want(backlogs(), poll, time.Time{})
		},
	},
}
