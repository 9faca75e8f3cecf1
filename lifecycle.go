package latchkey

import (
	"context"
	"time"

	"github.com/latchkey-dev/latchkey/store"
)

// Defaults of the background jobs New starts.
const (
	DefaultKeyReloadInterval = 30 * time.Second
	DefaultPurgeInterval     = time.Hour
	// MinJobInterval is the least KeyReloadInterval or PurgeInterval New
	// accepts: a smaller one is almost surely a number written without its
	// unit, and would run the job back to back.
	MinJobInterval = time.Millisecond
)

// startJobs starts the background jobs Options ask for: the reload of the
// signing keys, the purge, and the purge of used DPoP proofs. Close stops
// them.
func (h *Handler) startJobs() {
	h.jobsCtx, h.stopJobs = context.WithCancel(context.Background())
	o := h.opts
	if every := orDefault(o.KeyReloadInterval, DefaultKeyReloadInterval); every > 0 && o.Keys == nil {
		h.every(every, "signing keys not reloaded", func(ctx context.Context) error { return h.ReloadKeys(ctx) })
	}
	if every := orDefault(o.PurgeInterval, DefaultPurgeInterval); every > 0 {
		h.every(every, "purge failed", func(ctx context.Context) error {
			if _, err := h.Service.Purge(ctx, o.RetiredKeyTTL); err != nil {
				return err
			}
			return h.purgeEvents(ctx)
		})
	}
	if every := orDefault(o.DPoPPurgeInterval, DefaultDPoPPurgeInterval); every > 0 {
		h.every(every, "purge of used DPoP proofs failed", func(ctx context.Context) error {
			_, err := o.Store.PurgeProofs(ctx, o.Now())
			return err
		})
	}
}

// EventRetentionMargin is how long, past the access-token lifetime and
// leeway, the background purge keeps the security events every revocation
// records (store.Feed), for the SSF transmitter to deliver: by then every
// access token they concern has expired. (`latchkey serve` purges from
// `latchkey purge` instead, with SSF_RETENTION_MARGIN.)
const EventRetentionMargin = time.Hour

// purgeEvents deletes the security events nobody needs any more, when the
// store keeps them. The transmitter's streams are left alone: the
// application that runs one purges them (ssf.Purge).
func (h *Handler) purgeEvents(ctx context.Context) error {
	feed, ok := h.opts.Store.(store.Feed)
	if !ok {
		return nil
	}
	cut := h.opts.Now().Add(-(h.Service.Policy().AccessTTL + AccessLeeway + EventRetentionMargin))
	_, _, err := feed.PurgeFeed(ctx, cut, time.Time{})
	return err
}

// orDefault is d for zero, nothing (0) for negative, else v.
func orDefault(v, d time.Duration) time.Duration {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// every runs job every interval (each run bounded by the interval) until
// Close, logging failures: the next run tries again.
func (h *Handler) every(interval time.Duration, failed string, job func(ctx context.Context) error) {
	h.jobs.Add(1)
	go func() {
		defer h.jobs.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.jobsCtx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(h.jobsCtx, interval) // Close ends a run under way
			if err := job(ctx); err != nil {
				h.opts.Logger.Warn("latchkey: "+failed, "err", err)
			}
			cancel()
		}
	}()
}

// Close stops the background jobs New started (key reloads, purges) and
// waits for them to end. It does not close Store, which the application
// opened and closes after Close. Calling it more than once is harmless.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		h.stopJobs()
		h.jobs.Wait()
	})
	return nil
}
