// Types for sso.js (an ES module, no build step).

export interface SsoSession {
  authenticated: boolean;
  sub?: string;
  name?: string;
  email?: string;
  preferred_username?: string;
  /** The access token's `exp` (Unix seconds). */
  expires_at?: number;
}

export interface SsoLogoutResult {
  logged_out: boolean;
  sessions: number;
  op_session_ended: boolean;
}

export interface SsoOptions {
  /** The gateway's origin, e.g. `https://auth.a.com`. */
  gateway: string;
  /** The gateway's path prefix; default `/sso`. */
  prefix?: string;
  /** Logins per tab without a signed-in session in between; default 2. */
  maxLoginAttempts?: number;
  /** 503 answers in a row that one call waits through before throwing; default 3. */
  maxWaits?: number;
  /** Cap on one wait, seconds; default 60. */
  maxRetryAfter?: number;
  /** Called before each wait on a 503 or network error. */
  onUnavailable?: (seconds: number, error: SsoUnavailable) => void;
  /** Where the login counter lives; default `sessionStorage`. */
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
}

export interface SsoClient {
  session(): Promise<SsoSession>;
  /** Single-flight; `null` when there is no live session. */
  refresh(): Promise<SsoSession | null>;
  /** Top-level navigation; throws SsoLoginLoop after `maxLoginAttempts`. */
  login(rd?: string): void;
  logout(): Promise<SsoLogoutResult>;
  logoutNavigate(rd?: string): void;
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  loginAttempts(): number;
  resetLoginGuard(): void;
  /** Gateway origin plus prefix. */
  readonly base: string;
}

export function createClient(options: SsoOptions): SsoClient;
export function retryAfterSeconds(value: string | null | undefined, fallback?: number, max?: number): number;

export class SsoUnavailable extends Error {
  retryAfter: number;
  /** 503, or 0 for a network/CORS failure. */
  status: number;
}
export class SsoForbidden extends Error {}
export class SsoLoginLoop extends Error {
  attempts: number;
}
