package store

import (
	"reflect"
	"testing"
	"time"
)

func TestCreatedRoomsRoundTrip(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	want := []CreatedRoom{
		{Alias: "#a:hs", Room: "!a:hs", ParentSpace: "!space:hs", At: at},
		{Alias: "#b:hs", Room: "!b:hs", At: at.Add(time.Second)},
	}
	for _, c := range want {
		if err := s.RecordCreatedRoom(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CreatedRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("created rooms = %+v, want %+v", got, want)
	}
}
