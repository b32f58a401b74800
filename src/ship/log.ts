// The slice of a logger the outbox needs. pino's Logger satisfies it; tests pass a recorder.
export interface ShipLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: ShipLogger = {
  info() {},
  warn() {},
  error() {},
};
