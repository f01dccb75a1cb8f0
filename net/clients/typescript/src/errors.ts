// The errors a Client's promises reject with. Every one is a CofferError;
// `instanceof` tells them apart. Result codes of ops (insufficient_funds and
// the rest) are not errors: they are values in OpResult.code.

import { ErrorCode, errorCodeName } from "./protocol";

export class CofferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The server could not be reached, or the connection was lost and not
 * regained within the configured reconnect attempts. A request that failed
 * this way may or may not have been applied: send the same ops (same op ids,
 * same issuedNs) again to learn their outcome.
 */
export class ConnectionError extends CofferError {}

/** The handshake was refused because of the auth token (ERROR auth_failed). Not retried. */
export class AuthError extends CofferError {
  readonly errorCode = ErrorCode.AuthFailed;
}

/**
 * No common protocol version (ERROR unsupported_version, or a HELLO_OK with
 * a version this client did not offer), or a request this connection's
 * version cannot carry (history filters on version 1). Not retried.
 */
export class VersionError extends CofferError {}

/**
 * The server answered ERROR busy to every attempt (its engine queue stayed
 * full): the request was not applied. Resend later with the same op ids.
 */
export class BusyError extends CofferError {
  readonly errorCode = ErrorCode.Busy;
}

/**
 * The server refused the request with an ERROR frame (invalid_field,
 * bad_length, unknown_kind, internal, backup_failed, ...). Sending the same
 * frame again would not help. `closing`: the server closed the connection
 * after it (the client reconnects for later calls).
 */
export class ServerError extends CofferError {
  constructor(
    readonly errorCode: ErrorCode | number,
    readonly serverMessage: string,
    readonly closing: boolean,
  ) {
    super(`${errorCodeName(errorCode)}: ${serverMessage}`);
  }
  get codeName(): string {
    return errorCodeName(this.errorCode);
  }
}

/**
 * The server sent something this client cannot accept: bad magic, a wrong
 * checksum, a body whose length disagrees with its kind, a reply of the
 * wrong kind. The connection is dropped (and re-established for what is
 * still unanswered); the calls themselves are not failed by it unless the
 * reconnect attempts run out.
 */
export class ProtocolError extends CofferError {}

/**
 * No answer within the call's timeout. The request may still be applied:
 * retry with the same op ids and the same issuedNs to learn its outcome.
 */
export class TimeoutError extends CofferError {}

/** The client was closed before the call was answered. */
export class ClosedError extends CofferError {}

/** The client's queue of calls waiting for a slot is full (queuedOpsMax): not sent. */
export class QueueFullError extends CofferError {}
