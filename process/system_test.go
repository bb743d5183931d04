package process_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shoalhq/shoal/internal/sys"
	"github.com/shoalhq/shoal/process"
)

// maxSystemID is the first id System.Start refuses.
const maxSystemID = 1 << 16

// side is the runtime's side door, as the registry holds it.
func side(rt *process.Runtime) process.System { return rt.System(sys.Key{}) }

// TestSystemNeedsItsKey: the zero System, which any package can write,
// opens nothing.
func TestSystemNeedsItsKey(t *testing.T) {
	rt := newRuntime(t, process.DefaultConfig())
	p := start(t, rt, &recorder{}, "p")
	var door process.System
	if _, err := door.Start(context.Background(), 7, &recorder{}, process.SpawnOptions{}); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("Start through the zero System: %v", err)
	}
	if err := door.BeginHandoff(context.Background(), p, true, func(process.Handoff, error) {}); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("BeginHandoff through the zero System: %v", err)
	}
	if err := door.Forward(p, process.Ref{Node: "x", ID: 1}, nil); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("Forward through the zero System: %v", err)
	}
	if err := door.ResumeHandoff(p); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("ResumeHandoff through the zero System: %v", err)
	}
	if err := door.ResolveConflict(p, process.Conflict{}, nil, 0); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("ResolveConflict through the zero System: %v", err)
	}
	if err := door.Flush(p); !errors.Is(err, process.ErrInvalid) {
		t.Errorf("Flush through the zero System: %v", err)
	}
	if n := door.Forwarding(); n != 0 {
		t.Errorf("Forwarding through the zero System: %d", n)
	}
	if v, err := p.Call(context.Background(), "still here"); err != nil {
		t.Fatalf("the process after the zero System's calls: %v, %v", v, err)
	}
}
