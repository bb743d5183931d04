package directory

import (
	"errors"
	"strings"
	"testing"
)

// single drives one node alone, carrying out Start at once.
type single struct {
	t       *testing.T
	n       *Node
	nextID  uint64
	replies map[uint64]Reply
	started []Start
}

func newSingle(t *testing.T, mutate func(*Config)) *single {
	t.Helper()
	cfg := DefaultConfig(NodeID{Name: "a", Inc: 1})
	cfg.Partitions, cfg.MaxMsgBytes = 8, 4096
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &single{t: t, n: n, nextID: 100, replies: map[uint64]Reply{}}
	n.SetView([]NodeID{cfg.Self})
	s.drain()
	return s
}

func (s *single) drain() {
	for {
		rd := s.n.Ready()
		if len(rd.Msgs) > 0 {
			s.t.Fatalf("a node alone sent %d messages (first %T)", len(rd.Msgs), rd.Msgs[0].Msg)
		}
		if len(rd.Effects) == 0 {
			return
		}
		for _, e := range rd.Effects {
			switch e := e.(type) {
			case Start:
				s.started = append(s.started, e)
				s.nextID++
				s.n.Started(e.Token, s.nextID)
			case Reply:
				s.replies[e.Req] = e
			}
		}
	}
}

func (s *single) request(req uint64, op ReqOp, name string, spec Spec) Reply {
	s.t.Helper()
	s.n.Request(req, op, name, "", spec)
	s.drain()
	r, ok := s.replies[req]
	if !ok {
		s.t.Fatalf("request %d (%v %s) not answered", req, op, name)
	}
	return r
}

func TestNodeServesNothingBeforeItsFirstView(t *testing.T) {
	n, err := New(DefaultConfig(NodeID{Name: "a", Inc: 1}))
	if err != nil {
		t.Fatal(err)
	}
	n.Request(1, ReqWhereis, "x", "", Spec{})
	rd := n.Ready()
	if len(rd.Effects) != 1 || !errors.Is(rd.Effects[0].(Reply).Err, ErrNoPrimary) {
		t.Fatalf("before any view: %+v; want ErrNoPrimary", rd.Effects)
	}
}

func TestRegisterWhereisUnregisterAlone(t *testing.T) {
	s := newSingle(t, nil)
	r := s.request(1, ReqRegister, "x", Spec{Kind: "k"})
	if r.Err != nil || r.Answer.Inst.ID == 0 || len(s.started) != 1 {
		t.Fatalf("register: %+v, %d started", r, len(s.started))
	}
	if again := s.request(2, ReqRegister, "x", Spec{Kind: "k"}); again.Answer != r.Answer || len(s.started) != 1 {
		t.Fatalf("registering again: %+v (first %+v), %d started; want the same process", again, r, len(s.started))
	}
	if w := s.request(3, ReqWhereis, "x", Spec{}); w.Answer.Inst != r.Answer.Inst {
		t.Fatalf("whereis: %+v", w)
	}
	if u := s.request(4, ReqUnregister, "x", Spec{}); u.Err != nil || u.Answer.Reg != r.Answer.Reg {
		t.Fatalf("unregister: %+v; want the registration it ended", u)
	}
	if w := s.request(5, ReqWhereis, "x", Spec{}); !errors.Is(w.Err, ErrNotFound) {
		t.Fatalf("whereis after unregister: %+v", w)
	}
	if r2 := s.request(6, ReqRegister, "x", Spec{Kind: "k"}); r2.Err != nil || r2.Answer.Reg == r.Answer.Reg {
		t.Fatalf("registering again after unregister: %+v; want a new registration", r2)
	}
}

// TestTooLargeFailsAlone: a record that cannot fit a message is refused
// with ErrTooLarge; the node goes on serving the others.
func TestTooLargeFailsAlone(t *testing.T) {
	s := newSingle(t, nil)
	big := s.request(1, ReqRegister, "big", Spec{Kind: "k", Args: []byte(strings.Repeat("x", 8000))})
	if !errors.Is(big.Err, ErrTooLarge) {
		t.Fatalf("8 KB spec with 4 KB messages: %+v; want ErrTooLarge", big)
	}
	if small := s.request(2, ReqRegister, "small", Spec{Kind: "k"}); small.Err != nil {
		t.Fatalf("a small one after: %+v", small)
	}
	if len(s.started) != 1 {
		t.Fatalf("%d processes started; want only the small one", len(s.started))
	}
}
