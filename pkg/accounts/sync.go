package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// FileActor is the audit subject of changes made because the user file
// changed (a reload, or a start that finds users gone).
const FileActor = "(htpasswd)"

// FileSource is the Source of the accounts made for the users of the user
// file (htpasswd.Source): by Start, Apply and Create.
const FileSource = "htpasswd"

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
	missing := make([]store.Account, 0, min(len(users), createBatch))
	for i, name := range users {
		listed[name] = true
		if !known[name] {
			missing = append(missing, s.newAccount(name, "", store.AccountUser, FileSource))
		}
		if len(missing) == createBatch || (i == len(users)-1 && len(missing) > 0) {
			s.createAccounts(ctx, missing)
			missing = missing[:0]
		}
	}
	s.adoptEpochs(ctx, all)
	if len(users) == 0 {
		return
	}
	for _, acct := range all {
		if !listed[acct.Name] && !s.elsewhere(ctx, acct.Name) {
			s.end(ctx, acct.Name, "no longer in the user file at start", fileTime)
		}
	}
}

// elsewhere reports whether name, gone from the user file, is still a
// user of another backend (a directory), or might be: one that cannot
// answer keeps the account.
func (s *Service) elsewhere(ctx context.Context, name string) bool {
	if s.Users == nil {
		return false
	}
	back, err := s.Users.Exists(ctx, name)
	return err != nil || back
}

// createBatch is how many accounts Start creates per transaction: a first
// start over many users pays a durable commit per batch, not per user,
// and holds one batch in memory.
const createBatch = 1000

// createAccounts creates the accounts of a batch; a failure is logged.
func (s *Service) createAccounts(ctx context.Context, batch []store.Account) {
	if _, err := s.Store.CreateAccounts(ctx, batch); err != nil {
		s.logger().ErrorContext(ctx, "create accounts", "users", len(batch), "error", err)
	}
}

// FileChange is a change of the user file (htpasswd.Change): who was
// added, removed, or got a new password, and when the previous content was
// read (an added user was not in the file then).
type FileChange struct {
	Added, Removed, Changed []string
	Since                   time.Time
}

// maxConfirm bounds how long Apply waits for a file being rewritten to
// settle before it confirms removals.
const maxConfirm = time.Minute

// Apply follows a change of the user file: added users get an account (an
// account older than the content that lacked them belonged to an earlier
// user of the name and ends first), changed passwords end the refresh
// tokens of the old one, and removed users lose their account and
// everything it held once confirmed: the file has stopped changing for
// confirm (0: DefaultConfirmDelay; a file rewritten slowly in place is read
// half-written more than once) and they are still gone. An account made
// since the change was seen (the name added again meanwhile) is kept.
// Several replicas applying one change end each thing once. Apply waits
// for the confirmation: run it where waiting stops nothing else (the file
// must go on being watched meanwhile, or the confirmation sees a stale
// file).
func (s *Service) Apply(ctx context.Context, ch FileChange, confirm time.Duration) {
	seen := s.now()
	for _, name := range ch.Added {
		s.added(ctx, name, ch.Since)
	}
	s.markPending(ch.Removed, 1)
	defer s.markPending(ch.Removed, -1)
	for _, name := range ch.Changed {
		_, err := s.PasswordChanged(ctx, name, FileActor, false)
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.logger().ErrorContext(ctx, "end the refresh tokens of an old password", "user", name, "error", err)
		}
	}
	if len(ch.Removed) == 0 || !s.settled(ctx, confirm) {
		return
	}
	for _, name := range ch.Removed {
		if !s.elsewhere(ctx, name) {
			s.end(ctx, name, "removed from the user file", seen)
		}
	}
}

// added gives an added user an account, ending first one made before the
// file lacked the name: it belonged to an earlier user of the name. A name
// whose removal is still being confirmed is the same user back (a file
// read half-written): its account stays.
func (s *Service) added(ctx context.Context, name string, since time.Time) {
	if !s.isPending(name) {
		s.end(ctx, name, "an earlier user of the name", since)
	}
	if _, err := s.Ensure(ctx, name, FileSource); err != nil {
		s.logger().ErrorContext(ctx, "create account", "user", name, "error", err)
	}
}

// settled waits until the user file has not changed for confirm (its
// Version stays), at most maxConfirm; false when ctx ends first.
func (s *Service) settled(ctx context.Context, confirm time.Duration) bool {
	if confirm <= 0 {
		confirm = DefaultConfirmDelay
	}
	deadline := time.Now().Add(maxConfirm)
	for v := s.version(); ; {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(confirm):
		}
		now := s.version()
		if now == v || time.Now().After(deadline) {
			return true
		}
		v = now
	}
}

func (s *Service) markPending(names []string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = make(map[string]int)
	}
	for _, n := range names {
		if s.pending[n] += d; s.pending[n] <= 0 {
			delete(s.pending, n)
		}
	}
}

func (s *Service) isPending(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[name] > 0
}

func (s *Service) version() uint64 {
	if s.FileVersion == nil {
		return 0
	}
	return s.FileVersion()
}

// adoptEpochs gives the refresh tokens stored before password epochs
// existed the epoch of their user's password now: from the first start of
// this version on, a new password ends them too.
func (s *Service) adoptEpochs(ctx context.Context, all []store.Account) {
	if s.Users == nil {
		return
	}
	epochs := make(map[string]string, len(all))
	for _, acct := range all {
		if e := s.Users.Epoch(acct.Name); e != "" {
			epochs[acct.ID] = e
		}
	}
	if n, err := s.Store.AdoptEpochs(ctx, epochs); err != nil {
		s.logger().ErrorContext(ctx, "bind older refresh tokens to their password", "error", err)
	} else if n > 0 {
		s.logger().InfoContext(ctx, "older refresh tokens bound to their user's current password", "count", n)
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
