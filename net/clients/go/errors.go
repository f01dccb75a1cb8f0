package coffer

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is. Every error the client returns
// matches at most a few of these, plus context.DeadlineExceeded or
// context.Canceled for a call whose context ended first.
var (
	// The client was closed (Close) before the call was answered.
	ErrClosed = errors.New("coffer: client closed")
	// The server refused the handshake (HELLO answered with ERROR). The
	// error is a *HandshakeError; errors.Is(err, ErrAuthFailed) or
	// ErrUnsupportedVersion say which refusal.
	ErrHandshakeRefused = errors.New("coffer: handshake refused")
	// HELLO's token did not match the server's (ERROR auth_failed).
	ErrAuthFailed = errors.New("coffer: auth failed")
	// No protocol version in common (ERROR unsupported_version).
	ErrUnsupportedVersion = errors.New("coffer: unsupported protocol version")
	// The server closed the connection (end of file, reset).
	ErrConnectionClosed = errors.New("coffer: connection closed by the server")
	// The connection was lost and not regained within the reconnect
	// attempts (an *UnavailableError; its cause is the last failure).
	ErrUnavailable = errors.New("coffer: server unavailable")
	// ERROR busy after every busy retry: the request was not applied.
	ErrBusy = errors.New("coffer: server busy")
	// The server sent something this client cannot accept (bad magic, bad
	// checksum, a body that disagrees with its header, an unexpected kind).
	ErrProtocol = errors.New("coffer: protocol error")
	// The client's queue of calls waiting for a slot is full: not sent.
	ErrQueueFull = errors.New("coffer: client queue full")
	// The call asks for something the connection's version cannot carry
	// (history filters on a version 1 server).
	ErrNeedsVersion2 = errors.New("coffer: needs protocol version 2")
)

// ServerError is an ERROR frame from the server.
type ServerError struct {
	Code      ErrorCode
	Closing   bool // the server closes the connection after it
	Message   string
	RequestID uint64 // 0: about the connection
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("coffer: server error %v: %s", e.Code, e.Message)
}

// Is maps codes to the sentinels: busy to ErrBusy, auth_failed to
// ErrAuthFailed, unsupported_version to ErrUnsupportedVersion.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrBusy:
		return e.Code == ErrCodeBusy
	case ErrAuthFailed:
		return e.Code == ErrCodeAuthFailed
	case ErrUnsupportedVersion:
		return e.Code == ErrCodeUnsupportedVersion
	}
	return false
}

// HandshakeError: the server answered HELLO with an ERROR. Such a refusal
// (auth, version) is not retried.
type HandshakeError struct{ Server *ServerError }

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("coffer: handshake refused: %v: %s", e.Server.Code, e.Server.Message)
}
func (e *HandshakeError) Is(target error) bool { return target == ErrHandshakeRefused }
func (e *HandshakeError) Unwrap() error        { return e.Server }

// ProtocolError: the server's bytes broke the protocol.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string        { return "coffer: protocol error: " + e.Msg }
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protocolErrorf(format string, a ...interface{}) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, a...)}
}

// UnavailableError: the connection was lost and could not be regained;
// Cause is the last failure (ErrConnectionClosed, a dial error, a
// *ProtocolError, ...). A request that failed this way may have been
// applied: retry it with the same op ids (and ApplyIssued's issue time).
type UnavailableError struct {
	Attempts int
	Cause    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("coffer: server unavailable after %d reconnect attempts: %v", e.Attempts, e.Cause)
}
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *UnavailableError) Unwrap() error        { return e.Cause }
