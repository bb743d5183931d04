package houseparty

import "testing"

// Rooms and people sum themselves up for shoal inspect.
func TestDescribe(t *testing.T) {
	r := &room{args: RoomArgs{Name: "room_3", Max: 10}, present: map[string]struct{}{}, reserved: map[string]struct{}{"person_9": {}}}
	for _, n := range []string{"person_12", "person_2", "person_40", "person_7", "person_100", "person_33"} {
		r.present[n] = struct{}{}
	}
	if got, want := r.Describe(), "room_3: 6 of 10 inside, 1 on their way (person_2, person_7, person_12, person_33, person_40, …)"; got != want {
		t.Errorf("room: %q, want %q", got, want)
	}
	if got, want := (&room{args: RoomArgs{Name: "room_1", Max: 4}}).Describe(), "room_1: 0 of 4 inside"; got != want {
		t.Errorf("empty room: %q, want %q", got, want)
	}
	for p, want := range map[*person]string{
		{args: PersonArgs{Name: "person_5", Max: 20}, status: StatusWaiting}:                          "person_5: waiting to enter, tried 0 of 20 rooms",
		{args: PersonArgs{Name: "person_5", Max: 20}, status: StatusInRoom, room: "room_2", count: 4}: "person_5: in room_2, tried 4 of 20 rooms",
		{args: PersonArgs{Name: "person_5", Max: 20}, status: StatusLeft, count: 20}:                  "person_5: left the party, tried 20 of 20 rooms",
	} {
		if got := p.Describe(); got != want {
			t.Errorf("person: %q, want %q", got, want)
		}
	}
}
