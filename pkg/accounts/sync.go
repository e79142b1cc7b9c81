package accounts

import (
	"context"
	"errors"
	"time"
)

// FileActor is the audit subject of changes made because the user file
// changed (a reload, or a start that finds users gone).
const FileActor = "(htpasswd)"

// DefaultConfirmDelay is how long a user must stay gone from the file
// before Apply ends the account: a file rewritten in place (truncate, then
// write) can be read half-written for a moment.
const DefaultConfirmDelay = time.Second

// Start brings the accounts in line with the users a server starts with:
// every user gets an account, and an account whose user is gone (removed
// while no server was running) is removed with everything it held. Only
// accounts older than the user file are removed, so a server started with
// a stale copy of the file (another host's copy not yet updated) does not
// end users added since; a file that lists nobody removes nothing. Errors
// are logged: a store that is away must not keep the server from starting.
func (s *Service) Start(ctx context.Context, users []string, fileTime time.Time) {
	all, err := s.Store.ListAccounts(ctx)
	if err != nil {
		s.logger().ErrorContext(ctx, "list accounts", "error", err)
		return
	}
	known := make(map[string]bool, len(all))
	for _, acct := range all {
		known[acct.Name] = true
	}
	listed := make(map[string]bool, len(users))
	for _, name := range users {
		listed[name] = true
		if !known[name] {
			if _, err := s.Ensure(ctx, name); err != nil {
				s.logger().ErrorContext(ctx, "create account", "user", name, "error", err)
			}
		}
	}
	if len(users) == 0 {
		return
	}
	for _, acct := range all {
		if !listed[acct.Name] {
			s.end(ctx, acct.Name, "no longer in the user file at start", fileTime)
		}
	}
}

// Apply follows a change of the user file: added users get an account,
// changed passwords end the refresh tokens of the old one, and removed
// users, once still gone after confirm (0: DefaultConfirmDelay), lose their
// account and everything it held. An account made since the change was
// seen (the name added again meanwhile, `tollgate users add`) is kept.
// Several replicas applying one change end each thing once. Apply waits
// for the confirmation: run it where waiting stops nothing else (the file
// must go on being watched meanwhile, or the confirmation sees a stale
// file).
func (s *Service) Apply(ctx context.Context, added, removed, changed []string, confirm time.Duration) {
	seen := s.now()
	for _, name := range added {
		if _, err := s.Ensure(ctx, name); err != nil {
			s.logger().ErrorContext(ctx, "create account", "user", name, "error", err)
		}
	}
	for _, name := range changed {
		_, err := s.PasswordChanged(ctx, name, FileActor, false)
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.logger().ErrorContext(ctx, "end the refresh tokens of an old password", "user", name, "error", err)
		}
	}
	if len(removed) == 0 {
		return
	}
	if confirm <= 0 {
		confirm = DefaultConfirmDelay
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(confirm):
	}
	for _, name := range removed {
		if s.Users != nil {
			if back, err := s.Users.Exists(ctx, name); err != nil || back {
				continue
			}
		}
		s.end(ctx, name, "removed from the user file", seen)
	}
}

// end removes name's account if it was made before, logging what it
// ended: an account made later belongs to a user added since.
func (s *Service) end(ctx context.Context, name, why string, before time.Time) {
	if acct, err := s.Store.Account(ctx, name); err != nil || !acct.CreatedAt.Before(before) {
		return
	}
	r, ok, err := s.Remove(ctx, name, FileActor, why)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		s.logger().ErrorContext(ctx, "remove account", "user", name, "error", err)
	case ok:
		s.logger().InfoContext(ctx, "account removed; its credentials are revoked", "user", name, "reason", why,
			"refresh_tokens", r.RefreshTokens, "engine_refresh_tokens", r.EngineRefreshTokens, "api_tokens", r.APITokens)
	}
}
