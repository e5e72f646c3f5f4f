// Why a credential was not accepted. `code` maps to the listener's answer (HTTP 401/503,
// PostgreSQL 28P01/57P03); `reason` is a short metrics label; the message is safe to show the
// client (it never contains the token).
export class AuthError extends Error {
  readonly code: 'Unauthenticated' | 'Unavailable';
  readonly reason: string;
  constructor(code: 'Unauthenticated' | 'Unavailable', reason: string, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
    this.reason = reason;
  }
}

export const unauthenticated = (reason: string, message: string): AuthError => new AuthError('Unauthenticated', reason, message);
export const unavailable = (reason: string, message: string): AuthError => new AuthError('Unavailable', reason, message);
