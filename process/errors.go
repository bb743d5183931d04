package process

import (
	"errors"
	"fmt"
)

var (
	// ErrNoProcess means the target process does not exist (never did, or
	// has exited).
	ErrNoProcess = errors.New("no such process")
	// ErrStopped means the process stopped before it handled the message.
	ErrStopped = errors.New("process stopped")
	// ErrUnknownKind means a Spec names a kind that is not registered.
	ErrUnknownKind = errors.New("unknown process kind")
	// ErrKindExists means a kind was registered twice.
	ErrKindExists = errors.New("process kind already registered")
	// ErrShutdown means the runtime is shutting down or has shut down.
	ErrShutdown = errors.New("runtime shut down")
	// ErrInvalid means an argument or configuration value is invalid.
	ErrInvalid = errors.New("invalid argument")
	// ErrNoRemote means a message was sent to a process on another node
	// from a runtime that has no Remote (process.Config.Remote) to reach
	// it. It is an ErrNoProcess too: from here, there is no such process.
	ErrNoRemote = fmt.Errorf("%w: this runtime has no Remote to reach another node", ErrNoProcess)
	// ErrWontCross means a message or reply to a process on this node
	// would fail on its way to another node: its type is not registered
	// in the codec, or does not encode (Config.Codec checks it).
	ErrWontCross = errors.New("would not cross to another node")
)

// PanicError is the exit reason of a process whose handler panicked. The
// caller whose message caused the panic receives it as the call's error.
type PanicError struct {
	// Process is the name or ref of the process that panicked.
	Process string
	// Value is what was passed to panic.
	Value any
	// Stack is the goroutine stack at the panic.
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("process %s panicked: %v", e.Process, e.Value)
}

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
