package directory

// Effect is something a Node asks its host to do to a local process or a
// client. The host reports the outcome of Start and Pause back (Started,
// StartFailed, Paused), and a process's own exit (Exited).
type Effect interface{ isEffect() }

// Action is a process's answer to Pause (process.HandoffAction).
type Action uint8

// Actions.
const (
	ActionRestart Action = iota + 1 // start fresh from the spec
	ActionMove                      // carry State
	ActionStay                      // keep running here (the process is not paused)
)

type (
	// Start asks the host to start a process for Name, from State if
	// Restore, else from Spec, and to report Started or StartFailed with
	// Token.
	Start struct {
		Token   uint64
		Name    string
		Reg     RegID
		Spec    Spec
		Restore bool
		State   []byte
		// Checkpoint says State is the record's checkpoint (the process
		// it belonged to is gone), not a move's.
		Checkpoint bool
		// Restart says the name's process is started again because the
		// one it had is gone (its node was lost); Move that it replaces
		// one on another node, handed over. Neither: a new registration.
		Restart, Move bool
	}
	// Stop asks the host to stop a local process: its registration ended.
	Stop struct {
		Name string
		Inst Inst
	}
	// Pause asks a local process for its handoff action (and state) and to
	// pause unless it stays (MayStay false: stay counts as restart); the
	// host reports Paused.
	Pause struct {
		Name    string
		Inst    Inst
		MayStay bool
	}
	// Resume lets a paused process carry on here.
	Resume struct {
		Name string
		Inst Inst
	}
	// Forward retires a paused local process: what it holds and what is
	// sent to it later goes to To. Conflict says it lost a conflict.
	Forward struct {
		Name     string
		From, To Inst
		Conflict bool
	}
	// Resolve gives a conflict loser's state to the winner, a local
	// process (its conflict hook).
	Resolve struct {
		Name   string
		Winner Inst
		Loser  Inst
		State  []byte
		// The registrations and generations the two copies ran under.
		WinnerReg, LoserReg RegID
		WinnerGen, LoserGen uint64
		// Late: another process may hold the state too (see
		// MsgResolve.Late).
		Late bool
		// Checkpoint: State is the loser's last checkpoint (it is gone),
		// restored into the winner; the other side of a split may have
		// restored it too.
		Checkpoint bool
	}
	// Flush asks a local process whose kind checkpoints to checkpoint
	// its state now: its record lists as an orphan a checkpoint whose
	// state it holds (merged), and only its own next checkpoint says so.
	Flush struct {
		Name string
		Inst Inst
	}
	// Reply answers a client request made on this node.
	Reply struct {
		Req    uint64
		Answer Answer
		Err    error
	}
)

func (Start) isEffect()   {}
func (Stop) isEffect()    {}
func (Pause) isEffect()   {}
func (Resume) isEffect()  {}
func (Forward) isEffect() {}
func (Resolve) isEffect() {}
func (Flush) isEffect()   {}
func (Reply) isEffect()   {}
