package reconcile

import (
	"context"
	"errors"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// errNotKept is what a test store answers for a part of the Store contract its test does not use.
var errNotKept = errors.New("this test store keeps no such records")

// storeParts gives a test store the parts of the Store contract its test does not use: reads find
// nothing kept, writes fail, so a test that reaches one unexpectedly sees the failure.
type storeParts struct{}

func (storeParts) PowerGrants(context.Context) (map[plan.RoomUser]plan.PowerGrant, error) {
	return nil, nil
}
func (storeParts) PutPowerGrant(context.Context, plan.PowerGrant) error         { return errNotKept }
func (storeParts) DeletePowerGrant(context.Context, id.RoomID, id.UserID) error { return errNotKept }
func (storeParts) Exemptions(context.Context) ([]plan.Exemption, error)         { return nil, nil }
func (storeParts) DeleteExemption(context.Context, id.RoomID, id.UserID) (bool, error) {
	return false, errNotKept
}
func (storeParts) AccountRecords(context.Context) (map[id.UserID]plan.AccountRecord, error) {
	return nil, nil
}
func (storeParts) PutAccountRecord(context.Context, plan.AccountRecord) error { return errNotKept }
func (storeParts) DeleteAccountRecord(context.Context, id.UserID) error       { return errNotKept }
func (storeParts) SyncedProfiles(context.Context) (map[plan.ProfileKey]string, error) {
	return nil, nil
}
func (storeParts) PutSyncedProfile(context.Context, id.UserID, plan.ProfileField, string) error {
	return errNotKept
}

// countLoaded counts a loaded state's records per room, as a store's CountState does.
func countLoaded(state plan.State) (members, pending map[id.RoomID]int) {
	members, pending = map[id.RoomID]int{}, map[id.RoomID]int{}
	for _, room := range state.Members.Rooms() {
		members[room] = state.Members.InRoom(room)
	}
	for k := range state.Pending {
		pending[k.Room]++
	}
	return members, pending
}
