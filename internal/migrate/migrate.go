// Package migrate applies a goose provider's pending migrations one at a
// time and logs each step, so that an upgrade which takes a while (SQLite's
// schema-2 rebuild copies every session: seconds per million) says what it
// is doing instead of leaving `latchkey serve` silent, and its health checks
// refused, until it listens.
package migrate

import (
	"context"
	"errors"
	"log/slog"
	"path"
	"time"

	"github.com/pressly/goose/v3"
)

// Up applies every pending migration of p, in order, logging to log (nil:
// nothing is logged): the versions before and after when there is anything
// to do, each step as it starts and when it is done, with its duration, and
// the total. It is a no-op, logging nothing, on an up-to-date database.
func Up(ctx context.Context, p *goose.Provider, log *slog.Logger, backend string) error {
	statuses, err := p.Status(ctx)
	if err != nil {
		return err
	}
	var pending []*goose.Source
	var current int64
	for _, s := range statuses {
		if s.State == goose.StatePending {
			pending = append(pending, s.Source)
		} else {
			current = max(current, s.Source.Version)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	log.InfoContext(ctx, "database migration: starting", "backend", backend, "from_version", current,
		"to_version", pending[len(pending)-1].Version, "steps", len(pending))
	for _, src := range pending {
		log.InfoContext(ctx, "database migration: step started", "version", src.Version, "file", path.Base(src.Path))
		res, err := p.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break // another process applied the rest meanwhile
		}
		if err != nil {
			log.ErrorContext(ctx, "database migration: step failed", "version", src.Version, "err", err)
			return err
		}
		log.InfoContext(ctx, "database migration: step done", "version", res.Source.Version,
			"file", path.Base(res.Source.Path), "duration", res.Duration.String())
	}
	log.InfoContext(ctx, "database migration: done", "backend", backend, "duration", time.Since(start).String())
	return nil
}
