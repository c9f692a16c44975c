package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// The side effects of the account lifecycle and of profile sync: reading what Authentik says of
// accounts (observeAccounts), loading the records (loadLifecycle), and carrying out the actions
// (applyLifecycle). Every handler returns early when its work turns out done already.

var (
	errNoAccountsAPI = errors.New("no account API is configured for the homeserver (Synapse's admin API or MAS)")
	errNoProfiles    = errors.New("no profile API is configured for the homeserver")
	errNoAvatars     = errors.New("the homeserver connection cannot set avatars")
)

// loadLifecycle reads the account records and, with profile sync on, the synced profiles into
// state. Without the records a lock the bot made could be forgotten, so a failed read stops the
// cycle.
func (r *Reconciler) loadLifecycle(ctx context.Context, state *plan.State) error {
	recs, err := r.opts.Store.AccountRecords(ctx)
	if err != nil {
		return fmt.Errorf("load account lifecycle records: %w", err)
	}
	state.Accounts = recs
	if r.opts.Policy.Profiles.On() {
		profiles, err := r.opts.Store.SyncedProfiles(ctx)
		if err != nil {
			return fmt.Errorf("load synced profiles: %w", err)
		}
		state.Profiles = profiles
	}
	return nil
}

// observeAccounts looks up directly the accounts whose status could lead to an action this
// cycle (see accountLookups), after the groups, so that a user the group listings left out as
// inactive is among them unless reactivated meanwhile. The listing of inactive users only says
// whom to look up; its failure costs the deactivations it would have found this cycle, nothing
// more. A scoped cycle looks nobody up: it sees too few groups to tell who is in none.
func (r *Reconciler) observeAccounts(ctx context.Context, obs *plan.Observed, state plan.State, scoped bool) {
	dir := r.opts.AccountDirectory
	acts := obs.Policy.Deactivated.Acts()
	if dir == nil || scoped || (!acts && len(state.Accounts) == 0) {
		return
	}
	log := zerolog.Ctx(ctx)
	if acts {
		listed, err := dir.InactiveUsers(ctx)
		if err != nil {
			obs.Accounts.ListErr = err
			log.Warn().Err(err).Msg("Listing of deactivated Authentik users unreadable this cycle: only those who left their groups and earlier deactivations are looked up")
		}
		obs.Accounts.Listed = listed
	}
	r.mu.Lock()
	known := r.sourceIDs
	r.mu.Unlock()
	users := plan.AccountLookups(obs.Policy, *obs, state, known)
	if len(users) == 0 {
		return
	}
	log.Info().Int("users", len(users)).Msg("Looking Authentik accounts up one by one, to confirm deactivations and deletions")
	statuses, err := dir.LookupAccounts(ctx, users)
	obs.Accounts.Confirmed, obs.Accounts.SourceIDs, obs.Accounts.LookupErr = statuses, users, err
	if err != nil {
		log.Warn().Err(err).Msg("Some Authentik accounts could not be looked up: they count as unknown this cycle (no lock, no logout, and a removal takes the grace period)")
	}
}

// applyLifecycle carries out one lifecycle or profile action.
func (a *applier) applyLifecycle(ctx context.Context, log zerolog.Logger, act plan.LifecycleAction) error {
	if p, ok := act.(plan.SetProfile); ok {
		return a.applyProfile(ctx, log, p)
	}
	st := a.r.opts.Store
	accounts := a.r.opts.Accounts
	switch act := act.(type) {
	case plan.TrackDeactivation:
		if err := st.PutAccountRecord(ctx, act.Record); err != nil {
			return err
		}
		a.setAccount(act.Record)
		log.Info().Time("deactivated_at", act.Record.DeactivatedAt).Bool("deleted", act.Record.Deleted).
			Msg("Account seen deactivated in Authentik; recorded")
	case plan.FollowAccount:
		if err := st.PutAccountRecord(ctx, act.Record); err != nil {
			return err
		}
		a.setAccount(act.Record)
		log.Info().Str("source_id", act.Record.SourceID).Msg("A new Authentik account holds this Matrix ID; the record follows it")
	case plan.ForgetDeactivation:
		if err := st.DeleteAccountRecord(ctx, act.User); err != nil {
			return err
		}
		a.forgetAccount(act.User)
		log.Info().Msg("Account active again in Authentik; its deactivation record dropped")
	case plan.EndSessions:
		if accounts == nil {
			return errNoAccountsAPI
		}
		rec, err := a.account(act.User)
		if err != nil {
			return err
		}
		log.Info().Msg("Ending every session of the user")
		if err := accounts.Logout(ctx, act.User); err != nil {
			return err
		}
		rec.LoggedOutAt = a.r.opts.Now()
		if err := st.PutAccountRecord(ctx, rec); err != nil {
			// Logged out, not recorded: the next cycle logs out again, which does no harm.
			return fmt.Errorf("user logged out, but the store did not record it: %w", err)
		}
		a.setAccount(rec)
		log.Warn().Msg("Every session of the user ended")
	case plan.LockAccount:
		if accounts == nil {
			return errNoAccountsAPI
		}
		return a.lock(ctx, log, st, accounts, act.User)
	case plan.UnlockAccount:
		if accounts == nil {
			return errNoAccountsAPI
		}
		if err := accounts.SetLocked(ctx, act.User, false); err != nil {
			return err
		}
		log.Warn().Msg("Account unlocked: active again in Authentik")
		if err := st.DeleteAccountRecord(ctx, act.User); err != nil {
			// The next cycle unlocks again (no-op) and drops the record then.
			return fmt.Errorf("account unlocked, but its record could not be dropped: %w", err)
		}
		a.forgetAccount(act.User)
	default:
		return fmt.Errorf("unknown lifecycle action %T", act)
	}
	return nil
}

// lock locks an account. The record says "locked by the bot" before the lock is sent: a stop
// in between leaves a record whose next lock finds the account locked and takes it for the
// bot's, instead of a lock the bot would never lift. An account found locked already, without
// that mark, is someone else's lock: it is recorded as done but never unlocked by the bot.
func (a *applier) lock(ctx context.Context, log zerolog.Logger, st AccountStore, accounts Accounts, user id.UserID) error {
	rec, err := a.account(user)
	if err != nil {
		return err
	}
	if lr, ok := accounts.(LockReader); ok {
		locked, err := lr.Locked(ctx, user)
		if err != nil {
			return err
		}
		if locked && !rec.LockedByBot {
			rec.LockedAt = a.r.opts.Now()
			if err := st.PutAccountRecord(ctx, rec); err != nil {
				return err
			}
			a.setAccount(rec)
			log.Info().Msg("Account already locked by someone else; the bot will not unlock it")
			return nil
		}
	}
	if !rec.LockedByBot {
		rec.LockedByBot = true
		if err := st.PutAccountRecord(ctx, rec); err != nil {
			return fmt.Errorf("record the lock before making it: %w", err)
		}
		a.setAccount(rec)
	}
	log.Info().Msg("Locking the account")
	if err := accounts.SetLocked(ctx, user, true); err != nil {
		return err
	}
	rec.LockedAt = a.r.opts.Now()
	if err := st.PutAccountRecord(ctx, rec); err != nil {
		return fmt.Errorf("account locked, but the store did not record when: %w", err)
	}
	a.setAccount(rec)
	log.Warn().Msg("Account locked")
	return nil
}

// applyProfile writes one profile field, reading it first when the bot never synced it, and
// records the value synced.
func (a *applier) applyProfile(ctx context.Context, log zerolog.Logger, act plan.SetProfile) error {
	st := a.r.opts.Store
	profiles := a.r.opts.Profiles
	if profiles == nil {
		return errNoProfiles
	}
	get, set := profiles.DisplayName, profiles.SetDisplayName
	if act.Field == plan.FieldAvatar {
		av, ok := profiles.(Avatars)
		if !ok {
			return errNoAvatars
		}
		get, set = av.AvatarURL, av.SetAvatarURL
	}
	if act.CheckFirst {
		if ok, counter := a.accountExists(ctx, &log, act.User); !ok {
			if a.res.resultOf(counter) == ResultFailed {
				return fmt.Errorf("could not check whether %s has a Matrix account", act.User)
			}
			return errSkipped
		}
		cur, err := get(ctx, act.User)
		if err != nil {
			return fmt.Errorf("read the %s of %s: %w", act.Field, act.User, err)
		}
		if cur == act.Value {
			if err := st.PutSyncedProfile(ctx, act.User, act.Field, act.Value); err != nil {
				return err
			}
			log.Debug().Msg("Profile already as in Authentik; recorded, nothing written")
			return nil
		}
	}
	if err := set(ctx, act.User, act.Value); err != nil {
		return err
	}
	if err := st.PutSyncedProfile(ctx, act.User, act.Field, act.Value); err != nil {
		// Written, not recorded: the next cycle reads the profile again and finds it done.
		return fmt.Errorf("profile set, but the store did not record it: %w", err)
	}
	log.Info().Str("field", string(act.Field)).Str("value", act.Value).Msg("Profile set from Authentik")
	return nil
}

// errSkipped ends a handler early without a failure: the action is counted as skipped (a user
// without a Matrix account yet).
var errSkipped = errors.New("skipped")

// errNoRecord refuses a lock or logout of a user without a deactivation record: the
// TrackDeactivation of this cycle failed. Writing one from scratch would leave DeactivatedAt
// zero, and the next cycle would then take lock_after as long past and lock at once; the next
// cycle records the deactivation and does the lock or logout then.
var errNoRecord = errors.New("no deactivation record of the user (recording it failed this cycle); the next cycle tries again")

// account is the record a lock or logout updates: the one loaded or written this cycle.
func (a *applier) account(user id.UserID) (plan.AccountRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, ok := a.state.Accounts[user]
	if !ok {
		return plan.AccountRecord{}, errNoRecord
	}
	return rec, nil
}

func (a *applier) setAccount(rec plan.AccountRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state.Accounts == nil {
		a.state.Accounts = map[id.UserID]plan.AccountRecord{}
	}
	a.state.Accounts[rec.User] = rec
}

func (a *applier) forgetAccount(user id.UserID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.state.Accounts, user)
}

// AccountDirectory tells which Authentik accounts are deactivated or gone. usermap.Directory
// implements it with the same Matrix ID mapping as group members.
type AccountDirectory interface {
	// InactiveUsers lists the users Authentik holds as inactive, by Matrix ID. The listing only
	// says whom to look up: nobody is treated as deactivated on its word.
	InactiveUsers(ctx context.Context) (map[id.UserID]plan.DirectoryAccount, error)
	// LookupAccounts looks each user up directly, by the source ID given for them, and says
	// whether the account is active, inactive or gone. A failed lookup, or an account that now
	// maps to another Matrix ID, is AccountUnknown; err sums up the lookups that failed (the
	// others stand).
	// The username given is the one the account had when the bot last saw it (empty if never
	// seen): an account deleted and made again under it is a new account behind the same ID.
	LookupAccounts(ctx context.Context, users map[id.UserID]plan.DirectoryAccount) (map[id.UserID]plan.AccountStatus, error)
}

// LockReader is an Accounts that can tell whether an account is locked, so that the bot never
// takes for its own a lock someone else set, and unlocks only what it locked.
type LockReader interface {
	Locked(ctx context.Context, user id.UserID) (bool, error)
}

// Avatars reads and sets avatars; the Profiles implementation has it when it can.
type Avatars interface {
	AvatarURL(ctx context.Context, user id.UserID) (string, error)
	SetAvatarURL(ctx context.Context, user id.UserID, url string) error
}
