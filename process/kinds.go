package process

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Kinds is the table of process kinds of a node. Register every kind at
// startup, the same on every node. Safe for concurrent use.
type Kinds struct {
	mu    sync.RWMutex
	kinds map[string]*kind
}

// kind is a registered kind; its processes point to it.
type kind struct {
	name    string
	factory Factory
	opts    KindOptions
}

// KindOptions are a kind's settings, the same on every node.
type KindOptions struct {
	// Checkpoints is when its processes checkpoint their state (their
	// Behavior must implement Checkpointer); CheckpointOff by default.
	Checkpoints CheckpointMode
	// CheckpointEvery is the async interval; 0 means
	// DefaultCheckpointEvery.
	CheckpointEvery time.Duration
	// Messages declares a sample of each type its processes take in calls,
	// casts and infos and give as replies, and State one of the state it
	// hands off or checkpoints (value or pointer: both forms cross). The
	// front door (package shoal) registers each in the node's codec and
	// checks that it crosses between nodes when the node starts, so a
	// type that cannot is an error at start that names it and the kind,
	// not a failure on the other nodes later.
	Messages []any
	State    any
	// Restart is the kind's restart policy: RestartTemporary (no restart)
	// by default.
	Restart RestartPolicy
	// Mailbox bounds its processes' mailboxes; no bound by default.
	Mailbox MailboxOptions
	// PassivateAfter, if positive, passivates its processes once they
	// have been idle that long (checked every PassivateAfter, so within
	// twice that): their Behavior gives its state (Checkpointer) and is
	// dropped, and the next message makes a new one from the spec that
	// takes the state back (HandoffReceiver) before handling it. Their
	// Behavior must implement both. See Process.Passivated.
	PassivateAfter time.Duration
}

// NewKinds returns an empty kind table.
func NewKinds() *Kinds {
	return &Kinds{kinds: make(map[string]*kind)}
}

// Register adds a kind with default options. Registering a name twice,
// an empty name or a nil factory is an error.
func (k *Kinds) Register(name string, f Factory) error {
	return k.RegisterWith(name, f, KindOptions{})
}

// RegisterWith adds a kind with options.
func (k *Kinds) RegisterWith(name string, f Factory, opts KindOptions) error {
	switch opts.Checkpoints {
	case CheckpointOff, CheckpointSync, CheckpointAsync:
	default:
		return fmt.Errorf("register kind %q: %w: checkpoint mode %v", name, ErrInvalid, opts.Checkpoints)
	}
	if opts.CheckpointEvery < 0 {
		return fmt.Errorf("register kind %q: %w: negative checkpoint interval", name, ErrInvalid)
	}
	if opts.PassivateAfter < 0 {
		return fmt.Errorf("register kind %q: %w: negative PassivateAfter", name, ErrInvalid)
	}
	if name == "" {
		return fmt.Errorf("register kind: %w: empty name", ErrInvalid)
	}
	if f == nil {
		return fmt.Errorf("register kind %q: %w: nil factory", name, ErrInvalid)
	}
	if err := opts.Mailbox.validate(); err != nil {
		return fmt.Errorf("register kind %q: %w", name, err)
	}
	if err := opts.Restart.validate(); err != nil {
		return fmt.Errorf("register kind %q: %w", name, err)
	}
	for i, m := range opts.Messages {
		if m == nil {
			return fmt.Errorf("register kind %q: %w: KindOptions.Messages[%d] is nil (give a sample value of the type)", name, ErrInvalid, i)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, dup := k.kinds[name]; dup {
		return fmt.Errorf("register kind %q: %w", name, ErrKindExists)
	}
	k.kinds[name] = &kind{name: name, factory: f, opts: opts}
	return nil
}

// Options returns a kind's options and whether it is registered.
func (k *Kinds) Options(name string) (KindOptions, bool) {
	if kd := k.get(name); kd != nil {
		return kd.opts, true
	}
	return KindOptions{}, false
}

// Names returns the registered kinds' names, sorted.
func (k *Kinds) Names() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	names := make([]string, 0, len(k.kinds))
	for n := range k.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (k *Kinds) get(name string) *kind {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.kinds[name]
}

// New creates a Behavior for spec.
func (k *Kinds) New(spec Spec) (Behavior, error) {
	b, _, err := k.create(spec)
	return b, err
}

// create creates a Behavior for spec and returns its kind.
func (k *Kinds) create(spec Spec) (Behavior, *kind, error) {
	kd := k.get(spec.Kind)
	if kd == nil {
		return nil, nil, fmt.Errorf("create process of kind %q: %w", spec.Kind, ErrUnknownKind)
	}
	b, err := safeFactory(kd.factory, spec.Args)
	if err != nil {
		return nil, nil, fmt.Errorf("create process of kind %q: %w", spec.Kind, err)
	}
	if b == nil {
		return nil, nil, fmt.Errorf("create process of kind %q: %w: factory returned nil", spec.Kind, ErrInvalid)
	}
	return b, kd, nil
}

// Has reports whether kind is registered.
func (k *Kinds) Has(name string) bool { return k.get(name) != nil }
