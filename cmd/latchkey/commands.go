package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey-dev/latchkey/config"
	"github.com/latchkey-dev/latchkey/password"
	"github.com/latchkey-dev/latchkey/server"
	"github.com/latchkey-dev/latchkey/ssf"
	"github.com/latchkey-dev/latchkey/store"
)

type serveCmd struct{}

func (serveCmd) Run(cfg *config.Config, e *env) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	rt := server.TuneRuntime(cfg.HashConcurrency(), cfg.MaxConnections, password.Default)
	app.Logger.Debug("go runtime", "gogc", rt.Percent, "memory_limit", rt.MemoryLimit, "gomaxprocs", rt.Procs)
	return server.Serve(e.ctx, app)
}

type migrateCmd struct{}

func (migrateCmd) Run(cfg *config.Config, e *env) error {
	st, err := server.OpenStore(e.ctx, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.MigrateLogged(e.ctx, e.log); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(e.stdout, "migrations applied")
	return nil
}

type userCmd struct {
	Create      userCreateCmd      `cmd:"" help:"Create an active user; the password is read from the first line of standard input."`
	List        userListCmd        `cmd:"" help:"List users."`
	Activate    userActivateCmd    `cmd:"" help:"Activate a user."`
	Deactivate  userDeactivateCmd  `cmd:"" help:"Deactivate a user and revoke all their sessions at once."`
	SetPassword userSetPasswordCmd `cmd:"" name:"set-password" help:"Set a user's password as a reset does (every session revoked, reset links voided); the password is read from the first line of standard input."`
}

type userCreateCmd struct {
	Email string `arg:"" help:"Email of the new user."`
}

func (c userCreateCmd) Run(cfg *config.Config, e *env) error {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("user create: give the password on standard input")
	}
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	u, err := app.Service.AdminCreateUser(e.ctx, c.Email, strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\t%s\n", u.ID, u.Email)
	return nil
}

type userSetPasswordCmd struct {
	Email string `arg:"" help:"Email of the user."`
}

func (c userSetPasswordCmd) Run(cfg *config.Config, e *env) error {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("user set-password: give the password on standard input")
	}
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	n, err := app.Service.AdminSetPassword(e.ctx, c.Email, strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password set for %s; %d sessions revoked\n", c.Email, n)
	return nil
}

type userListCmd struct{}

func (userListCmd) Run(cfg *config.Config, e *env) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	us, err := app.Service.ListUsers(e.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tSTATUS\tCREATED")
	for _, u := range us {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Status, u.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

type userActivateCmd struct {
	Email string `arg:"" help:"Email of the user."`
}

func (c userActivateCmd) Run(cfg *config.Config, e *env) error {
	return setActive(cfg, e, c.Email, true)
}

type userDeactivateCmd struct {
	Email string `arg:"" help:"Email of the user."`
}

func (c userDeactivateCmd) Run(cfg *config.Config, e *env) error {
	return setActive(cfg, e, c.Email, false)
}

func setActive(cfg *config.Config, e *env, email string, active bool) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	u, err := app.Service.SetUserActive(e.ctx, email, active)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\t%s\n", u.Email, u.Status)
	return nil
}

type sessionCmd struct {
	List   sessionListCmd   `cmd:"" help:"List live sessions (of one user with --email)."`
	Revoke sessionRevokeCmd `cmd:"" help:"Revoke a session by id."`
}

type sessionListCmd struct {
	Email string `help:"Only this user's sessions."`
}

func (c sessionListCmd) Run(cfg *config.Config, e *env) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	ss, err := app.Service.AdminListSessions(e.ctx, c.Email)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tUSER\tGENERATION\tLAST REFRESHED\tREFRESH EXPIRES\tIP\tCLIENT")
	for _, s := range ss {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.UserID, s.Generation, s.LastRefreshedAt.Format(time.RFC3339),
			s.RefreshExpiresAt.Format(time.RFC3339), s.IP, s.ClientID)
	}
	return w.Flush()
}

type sessionRevokeCmd struct {
	ID string `arg:"" help:"Session id."`
}

func (c sessionRevokeCmd) Run(cfg *config.Config, e *env) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Service.AdminRevokeSession(e.ctx, c.ID); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "revoked", c.ID)
	return nil
}

type purgeCmd struct{}

// Run never migrates: a scheduled purge of an older or newer build must not
// change the schema under the serving fleet. It refuses a database whose
// schema is not exactly this build's.
func (purgeCmd) Run(cfg *config.Config, e *env) error {
	st, err := server.OpenStore(e.ctx, *cfg)
	if err != nil {
		return err
	}
	if err := st.CheckSchema(e.ctx); err != nil {
		st.Close()
		return fmt.Errorf("purge: %w", err)
	}
	app, err := server.Open(e.ctx, *cfg, st, server.Options{Logger: e.log})
	if err != nil {
		st.Close()
		return err
	}
	defer app.Close()
	n, err := app.Service.Purge(e.ctx, server.RetiredKeyPublished(*cfg))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "purged %d sessions\n", n)
	// The security events are purged whatever SSF says: revocations record
	// them either way.
	if feed, ok := app.Store.(store.Feed); ok {
		events, streams, err := ssf.Purge(e.ctx, feed, time.Now(), server.SSFRetention(*cfg), cfg.SSFStreamInactivity.D())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "purged %d security events and %d event streams\n", events, streams)
	}
	return nil
}

type keysCmd struct {
	List   keysListCmd   `cmd:"" help:"List signing keys."`
	Rotate keysRotateCmd `cmd:"" help:"Make a new active signing key; the old one stays published until its tokens expire."`
}

type keysListCmd struct{}

func (keysListCmd) Run(cfg *config.Config, e *env) error {
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	keys, err := app.Store.SigningKeys(e.ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KID\tALGORITHM\tCREATED\tSTATE")
	now := time.Now()
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), keyState(k, now, cfg))
	}
	return w.Flush()
}

func keyState(k store.SigningKey, now time.Time, cfg *config.Config) string {
	switch {
	case k.RetiredAt.IsZero():
		return "active"
	case now.Before(k.RetiredAt.Add(server.RetiredKeyPublished(*cfg))):
		return "retired, published until " + k.RetiredAt.Add(server.RetiredKeyPublished(*cfg)).Format(time.RFC3339)
	}
	return "expired"
}

type keysRotateCmd struct{}

func (keysRotateCmd) Run(cfg *config.Config, e *env) error {
	if cfg.JWTAlgorithm == "HS256" {
		return errors.New("keys rotate: HS256 uses JWT_SECRET; change the secret instead")
	}
	app, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer app.Close()
	kid, err := app.Tokens.RotateKey(e.ctx, app.Store, cfg.JWTAlgorithm)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new active key %s (%s); running instances pick it up within %s\n", kid, cfg.JWTAlgorithm, cfg.KeyReloadInterval)
	return nil
}

type configCmd struct{}

func (configCmd) Run(cfg *config.Config, e *env) error {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, s := range cfg.Settings() {
		fmt.Fprintf(w, "%s\t%s\n", s.Env, s.Value)
	}
	return w.Flush()
}
