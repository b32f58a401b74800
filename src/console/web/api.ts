// Requests to the server with the session cookie. The secret is sent once, to sign in, in a POST
// body; afterwards only the HttpOnly cookie (which scripts cannot read) and the CSRF token (held in
// memory, never in storage) go with requests.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface Session {
  role: 'reader' | 'admin';
  name: string;
  access_key_id: string;
  csrf: string | null;
  expires_at: number | null;
}

let csrf: string | null = null;
export let onSignedOut: () => void = () => {};
export function setSignedOutHandler(f: () => void): void {
  onSignedOut = f;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    const msg = parsed && typeof parsed === 'object' && 'message' in parsed ? String((parsed as { message: unknown }).message) : `HTTP ${res.status}`;
    if (res.status === 401 && url !== '/console/session') onSignedOut();
    throw new ApiError(res.status, msg, parsed);
  }
  return parsed as T;
}

export const get = <T>(url: string) => call<T>('GET', url);
export const post = <T>(url: string, body?: unknown) => call<T>('POST', url, body ?? {});
export const put = <T>(url: string, body: unknown) => call<T>('PUT', url, body);
export const del = <T>(url: string) => call<T>('DELETE', url);

export async function currentSession(): Promise<Session | null> {
  try {
    const s = await get<Session>('/console/session');
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function signIn(secret: string): Promise<Session> {
  const s = await post<Session>('/console/session', { token: secret });
  csrf = s.csrf;
  return s;
}

export async function signOut(): Promise<void> {
  try {
    await post('/console/logout');
  } finally {
    csrf = null;
  }
}
