package directory

// Messages between nodes. Each names its partition; the host delivers
// them to Node.Receive of the node it was sent to, with the sender's
// NodeID. They may be dropped, duplicated, delayed or reordered: every
// rule here tolerates that (at the cost of a resync).

// Stream identifies one run of a partition's replication stream: the
// primary that owns it and how many times that incarnation has taken the
// partition.
type Stream struct {
	Node  NodeID
	Epoch uint64
}

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpPut stores Rec (and clears nothing else).
	OpPut OpKind = iota + 1
	// OpDel removes Rec.Name and stores Tomb.
	OpDel
	// OpDropTomb forgets an expired Tomb.
	OpDropTomb
)

// Op is one change to a partition, as the primary streams it.
type Op struct {
	Kind OpKind
	Rec  Record
	Tomb Tomb
}

func (o *Op) size() int { return 16 + o.Rec.size() + len(o.Tomb.Name) + 24 }

// Replication: primary to replicas.
type (
	// MsgOps carries changes numbered Seq-len(Ops)+1 .. Seq.
	MsgOps struct {
		P      int
		Stream Stream
		Seq    uint64
		Ops    []Op
	}
	// MsgAck says the replica applied the stream up to Seq.
	MsgAck struct {
		P      int
		Stream Stream
		Seq    uint64
	}
	// MsgDigest summarises the primary's copy.
	MsgDigest struct {
		P      int
		Stream Stream
		Seq    uint64
		Hash   uint64
	}
	// MsgSnapReq asks the primary for a snapshot.
	MsgSnapReq struct{ P int }
	// MsgSnap is chunk Index of Total of a snapshot taken at Seq.
	MsgSnap struct {
		P            int
		Stream       Stream
		Seq          uint64
		Index, Total int
		Records      []Record
		Tombs        []Tomb
	}
)

// Taking over: a new primary gathers; holders give.
type (
	// MsgGather asks a member for what it holds of a partition.
	MsgGather struct {
		P      int
		Stream Stream
	}
	// MsgGive is chunk Index of Total of a holder's copy, given to the
	// primary it sees (pushed, or in answer to a gather). Busy says the
	// sender serves the partition itself and gives nothing yet. Answers
	// is the stream of the gather it answers (zero: pushed): only such a
	// give, made after the gather came, holds everything the sender
	// holds (its processes too), so only it counts as the sender heard
	// out.
	MsgGive struct {
		P            int
		ID           uint64
		Index, Total int
		Records      []Record
		Tombs        []Tomb
		Busy         bool
		Answers      Stream
	}
	// MsgGiveAck says give ID was merged whole.
	MsgGiveAck struct {
		P  int
		ID uint64
	}
)

// Processes: reports, verdicts, moves, conflicts, exits.
type (
	// MsgReport lists the instances a node runs in a partition (not the
	// primary's own) and those that exited and are not yet acknowledged (a
	// verdict on them is the acknowledgement). MaxID bounds the ids it had
	// started when it wrote the report; Seq orders its reports.
	MsgReport struct {
		P      int
		Seq    uint64
		MaxID  uint64
		Items  []Record
		Exited []Record // instances that exited by themselves
		// Partial says Items were cut to fit: absent instances are not
		// taken as gone.
		Partial bool
	}
	// MsgCheck asks a node for a report of a partition.
	MsgCheck struct{ P int }
	// MsgVerdict tells a node what to do with instances it reported.
	MsgVerdict struct {
		P     int
		Items []Verdict
	}
	// MsgGroups gives a node the groups of the records of processes it
	// reported with older ones: it keeps them in its own copy of each
	// record, so that a primary that lost every copy (k = 0, or every
	// holder crashed) gets them back from it with the process. A message
	// of its own, not a verdict: a node of an earlier build drops it
	// unread (it takes any verdict about an exited process as the
	// acknowledgement of its exit).
	MsgGroups struct {
		P     int
		Items []GroupsOf
	}
	// MsgMoveState is an instance's answer to a move: its handoff action
	// and state.
	MsgMoveState struct {
		P      int
		Name   string
		Inst   Inst
		Action Action
		State  []byte
		// Absorbed lists the conflict losers the process merged.
		Absorbed []Inst
	}
	// MsgMoved tells the old node where its instance now runs (New zero:
	// the move failed; resume).
	MsgMoved struct {
		P    int
		Name string
		Old  Inst
		New  Inst
	}
	// MsgForwarded answers a MsgMoved that named a new process: the old
	// node retired Old and forwards to New (sent after the backlog, on
	// the same link). New zero, or another process than the one asked
	// about: Old was not retired into it (it runs on, went elsewhere or
	// is gone), so that one must stop.
	MsgForwarded struct {
		P    int
		Name string
		Old  Inst
		New  Inst
	}
	// MsgForwardedAck tells the old node that its MsgForwarded arrived.
	MsgForwardedAck struct {
		P   int
		Old Inst
	}
	// MsgResolve carries a conflict loser's state to the winner.
	MsgResolve struct {
		P      int
		Name   string
		Loser  Inst
		Winner Inst
		State  []byte
		Hops   int
		// Approved says the primary recorded the merge: deliver it.
		Approved bool
		// Again says it was approved before (the loser asked again): it
		// goes to the winner first named, which may hold it already, and
		// never makes a losing process the winner.
		Again bool
		// Sent says the loser's node sent it to Winner: the one place
		// the loser's state goes (two primaries that each approved it,
		// their views of the cluster differing for a moment, cannot send
		// it to two winners). Only such a merge is delivered.
		Sent bool
		// Late says the winner first named was out of reach for the
		// whole hold (a long split, or a node gone for good), or its
		// node was replaced: the name's process took the state instead,
		// and if that winner (or a process it moved to before its node
		// went) lives on, the state is held twice after the heal.
		// Availability over exactness; the registry logs it.
		Late bool
		// Checkpoint says State is the loser's checkpoint, kept in the
		// name's record (an orphan), not its live state: the loser is
		// gone (see ckpt.go).
		Checkpoint bool
		// Absorbed lists the losers the loser itself had merged.
		Absorbed []Inst
		// LoserReg and LoserGen are the loser's registration and
		// generation, as its node held them: where it came from.
		LoserReg RegID
		LoserGen uint64
	}
	// MsgResolveAck tells a loser's node that Winner merged its state
	// (zero Winner: the name is gone, the loser just stops).
	MsgResolveAck struct {
		P      int
		Name   string
		Loser  Inst
		Winner Inst
	}
	// MsgLeaving says the sender is draining.
	MsgLeaving struct{}
)

// VerdictAction is what a primary decides about a reported instance.
type VerdictAction uint8

const (
	// VerdictKeep: the record runs on it.
	VerdictKeep VerdictAction = iota + 1
	// VerdictLose: another instance runs the name; give it this one's
	// state (its conflict hook) and stop, forwarding to it.
	VerdictLose
	// VerdictStop: the registration is dead; stop.
	VerdictStop
	// VerdictMove: hand it over to the primary.
	VerdictMove
)

// Verdict is a primary's decision about one instance.
type Verdict struct {
	Name   string
	Inst   Inst
	Action VerdictAction
	Winner Inst // for VerdictLose
}

// GroupsOf is the groups of the record of a process, for its node.
type GroupsOf struct {
	Name   string
	Inst   Inst
	Groups []string
	GVer   uint64
}

// Client requests forwarded to a partition's primary, and their answers.
type (
	// MsgRequest is a client request made on Origin.
	MsgRequest struct {
		Req    uint64
		Origin NodeID
		Op     ReqOp
		Name   string
		Spec   Spec
		Group  string
		Hops   int
		// Left is how many more ticks the request may wait before it is
		// dropped: its client has given up by then, and a request that
		// took effect later would undo what the client did next.
		Left uint64
		// At is one more than the tick this node began holding it (0: not
		// held).
		At uint64
		// Ckpt is a ReqCheckpoint's checkpoint (its Holds: the losers
		// merged since the process's last acknowledged checkpoint).
		Ckpt *Checkpoint
	}
	// MsgReply answers a MsgRequest.
	MsgReply struct {
		Req    uint64
		Answer Answer
		Err    ErrCode
	}
)

// ReqOp is a client operation.
type ReqOp uint8

// Client operations.
const (
	ReqRegister ReqOp = iota + 1
	ReqUnregister
	ReqWhereis
	ReqJoin
	ReqLeave
	ReqCheckpoint
)

// ErrCode carries an error across the wire.
type ErrCode uint8

// Error codes.
const (
	CodeOK ErrCode = iota
	CodeNotFound
	CodeNoPrimary
	CodeTimeout
	CodeTooLarge
	CodeStartFailed
	CodeBusy
	CodeStale
)

var codeErrs = map[ErrCode]error{
	CodeNotFound: ErrNotFound, CodeNoPrimary: ErrNoPrimary, CodeTimeout: ErrTimeout,
	CodeTooLarge: ErrTooLarge, CodeStartFailed: ErrStartFailed, CodeBusy: ErrBusy,
	CodeStale: ErrStale,
}

func (c ErrCode) err() error { return codeErrs[c] }

func codeOf(err error) ErrCode {
	for c, e := range codeErrs {
		if e == err {
			return c
		}
	}
	if err != nil {
		return CodeTimeout
	}
	return CodeOK
}

func (m MsgOps) partition() int          { return m.P }
func (m MsgAck) partition() int          { return m.P }
func (m MsgDigest) partition() int       { return m.P }
func (m MsgSnapReq) partition() int      { return m.P }
func (m MsgSnap) partition() int         { return m.P }
func (m MsgGather) partition() int       { return m.P }
func (m MsgGive) partition() int         { return m.P }
func (m MsgGiveAck) partition() int      { return m.P }
func (m MsgReport) partition() int       { return m.P }
func (m MsgCheck) partition() int        { return m.P }
func (m MsgVerdict) partition() int      { return m.P }
func (m MsgGroups) partition() int       { return m.P }
func (m MsgMoveState) partition() int    { return m.P }
func (m MsgMoved) partition() int        { return m.P }
func (m MsgForwarded) partition() int    { return m.P }
func (m MsgForwardedAck) partition() int { return m.P }
func (m MsgResolve) partition() int      { return m.P }
func (m MsgResolveAck) partition() int   { return m.P }
