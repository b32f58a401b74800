// Error values the routes throw; the error handlers in app.ts (REST) and routes/lightsail.ts
// (Lightsail shape) turn them into responses. Nothing here carries a secret.

/** A REST error answered as `{"code", "message", ...extra}`. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
  body(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.extra };
  }
}

/** Authentication (401) or authorisation (403) failure; each route family words it its own way. */
export class AuthError extends Error {
  constructor(
    readonly kind: 'unauthenticated' | 'forbidden',
    message: string,
  ) {
    super(message);
  }
}

export type LightsailErrorType =
  | 'InvalidInputException'
  | 'NotFoundException'
  | 'UnauthenticatedException'
  | 'AccessDeniedException'
  | 'ServiceException'
  | 'UnknownOperationException';

const LIGHTSAIL_STATUS: Record<LightsailErrorType, number> = {
  InvalidInputException: 400,
  NotFoundException: 404,
  UnauthenticatedException: 401,
  AccessDeniedException: 403,
  ServiceException: 500,
  UnknownOperationException: 400,
};

/** An error named as Lightsail names it. */
export class LightsailError extends Error {
  constructor(
    readonly type: LightsailErrorType,
    message: string,
  ) {
    super(message);
  }
  get statusCode(): number {
    return LIGHTSAIL_STATUS[this.type];
  }
  body(): Record<string, unknown> {
    return { __type: this.type, message: this.message, code: this.type };
  }
}

export function lightsailFromAuth(e: AuthError): LightsailError {
  return new LightsailError(e.kind === 'unauthenticated' ? 'UnauthenticatedException' : 'AccessDeniedException', e.message);
}
