/**
 * The one table of error codes. Every error that reaches a wire (WebSocket `error` frame,
 * REST error body, close reason) carries one of these codes. `retryable` tells a client
 * whether sending the same thing again later can succeed.
 */
export const ERROR_CODES = {
  bad_json: { status: 400, retryable: false, text: "Frame is not valid JSON" },
  unknown_type: { status: 400, retryable: false, text: "Frame type is not known" },
  invalid_payload: { status: 400, retryable: false, text: "Payload does not match the schema" },
  text_too_long: { status: 413, retryable: false, text: "Message text is over the limit" },
  file_too_large: { status: 413, retryable: false, text: "File is over the size limit" },
  body_too_large: { status: 413, retryable: false, text: "Request body is over the size limit" },
  too_many_connections: {
    status: 429,
    retryable: true,
    text: "Too many open connections for this token",
  },
  rate_limited: { status: 429, retryable: true, text: "Too many messages; slow down" },
  unauthorized: { status: 401, retryable: false, text: "Token is missing, forged or expired" },
  forbidden: { status: 403, retryable: false, text: "Not allowed for this role or chat" },
  not_found: { status: 404, retryable: false, text: "No such chat or resource" },
  already_assigned: { status: 409, retryable: false, text: "Chat is already assigned" },
  at_capacity: { status: 409, retryable: true, text: "Operator has no room for another chat" },
  operator_unavailable: { status: 409, retryable: true, text: "Operator is not online" },
  not_in_queue: { status: 409, retryable: false, text: "Chat is not waiting in the queue" },
  chat_closed: { status: 409, retryable: false, text: "Chat is closed" },
  not_closed: { status: 409, retryable: false, text: "Chat must be closed first" },
  already_rated: { status: 409, retryable: false, text: "Chat is already rated" },
  invalid_state: { status: 409, retryable: false, text: "Not possible in the chat's state" },
  not_supported: { status: 501, retryable: false, text: "Not supported by this server version" },
  overloaded: { status: 503, retryable: true, text: "Server is overloaded; retry later" },
  timeout: { status: 504, retryable: true, text: "Timed out waiting for a reply" },
  unavailable: { status: 503, retryable: true, text: "Service is not available" },
  internal: { status: 500, retryable: true, text: "Internal error" },
} as const satisfies Record<string, { status: number; retryable: boolean; text: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a code from {@link ERROR_CODES}; safe to show on the wire. */
export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: ErrorOptions) {
    super(message ?? ERROR_CODES[code].text, options);
    this.name = "AppError";
    this.code = code;
  }
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  toWire(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Any thrown value as an AppError; unknown errors become `internal` and hide their text. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError("internal", undefined, { cause: err });
}
