package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
)

type ssfCmd struct {
	Receiver ssfReceiverCmd `cmd:"" help:"Manage the receivers of security events (the APIs that enforce revocation)."`
}

type ssfReceiverCmd struct {
	Create ssfReceiverCreateCmd `cmd:"" help:"Register a receiver and print its credential (shown once; only its hash is stored)."`
	List   ssfReceiverListCmd   `cmd:"" help:"List receivers and how many event streams each has."`
	Delete ssfReceiverDeleteCmd `cmd:"" help:"Delete a receiver and its event streams; its credential stops working at once."`
}

type ssfReceiverCreateCmd struct {
	Name     string `arg:"" help:"Name of the receiver (letters, digits, '.', '_', '-')."`
	Audience string `help:"aud of the receiver's security events (default: the name)."`
}

// openFeed opens the app and its security-event feed.
func openFeed(e *env, cfg *config.Config) (*server.App, store.Feed, error) {
	app, err := open(e, cfg, true)
	if err != nil {
		return nil, nil, err
	}
	feed, ok := app.Store.(store.Feed)
	if !ok {
		app.Close()
		return nil, nil, errors.New("this database keeps no security events")
	}
	return app, feed, nil
}

// Run prints the credential alone on standard output, so that a script can
// capture it: cred=$(latchkey ssf receiver create api).
func (c ssfReceiverCreateCmd) Run(cfg *config.Config, e *env) error {
	app, feed, err := openFeed(e, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	r, cred, err := ssf.CreateReceiver(e.ctx, feed, c.Name, c.Audience, time.Now())
	if err != nil {
		return fmt.Errorf("ssf receiver create: %w", err)
	}
	e.log.Info("audit", "event", "ssf.receiver_created", "receiver", r.Name, "audience", r.Audience)
	fmt.Fprintln(e.stdout, cred)
	return nil
}

type ssfReceiverListCmd struct{}

func (ssfReceiverListCmd) Run(cfg *config.Config, e *env) error {
	app, feed, err := openFeed(e, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	rs, err := feed.Receivers(e.ctx)
	if err != nil {
		return err
	}
	streams, err := feed.Streams(e.ctx, "")
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, s := range streams {
		count[s.ReceiverID]++
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tAUDIENCE\tSTREAMS\tCREATED")
	for _, r := range rs {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", r.Name, r.Audience, count[r.ID], r.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

type ssfReceiverDeleteCmd struct {
	Name string `arg:"" help:"Name of the receiver."`
}

func (c ssfReceiverDeleteCmd) Run(cfg *config.Config, e *env) error {
	app, feed, err := openFeed(e, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	r, err := ssf.ReceiverByName(e.ctx, feed, c.Name)
	if err != nil {
		return fmt.Errorf("ssf receiver delete: %w", err)
	}
	if err := feed.DeleteReceiver(e.ctx, r.ID); err != nil {
		return fmt.Errorf("ssf receiver delete: %w", err)
	}
	e.log.Info("audit", "event", "ssf.receiver_deleted", "receiver", r.Name)
	fmt.Fprintln(e.stdout, "deleted receiver", r.Name)
	return nil
}
