package houseparty

import (
	"fmt"

	"github.com/shoalhq/shoal/codec"
)

// RegisterTypes registers in c every type the party sends between nodes:
// room and person messages, their replies and their handed-off state. Call
// it on every node's codec.
func RegisterTypes(c *codec.Codec) error {
	for name, v := range map[string]any{
		"houseparty.reserve":      ReserveMsg{},
		"houseparty.confirm":      ConfirmMsg{},
		"houseparty.cancel":       CancelMsg{},
		"houseparty.remove":       RemoveMsg{},
		"houseparty.room_take":    RoomTake{},
		"houseparty.room_check":   RoomCheck{},
		"houseparty.room_info":    RoomInfo{},
		"houseparty.room_state":   RoomState{},
		"houseparty.wanderlust":   WanderlustMsg{},
		"houseparty.person_take":  PersonTake{},
		"houseparty.person_info":  PersonInfo{},
		"houseparty.person_state": PersonState{},
	} {
		if err := c.Register(name, v); err != nil {
			return fmt.Errorf("house party types: %w", err)
		}
	}
	return nil
}
