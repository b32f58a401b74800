// A read-only HTTP/1.1 GET over a unix socket, for the hypervisors' own APIs (Cloud Hypervisor
// vm.info, Firecracker /vm/config). A hung or hostile hypervisor must not stall discovery:
// short overall deadline, a cap on the answer's size, one attempt; the caller caches the
// outcome per process so a VM is asked at most once.
import { request } from 'node:http';
import { fail, failureFromError, ok, type Outcome } from '../readers/outcome.js';

export interface GetOptions {
  /** Whole-request deadline; default 500 ms. */
  readonly timeoutMs?: number;
  /** Largest body accepted; default 64 KiB. */
  readonly maxBytes?: number;
}

export const DEFAULT_API_TIMEOUT_MS = 500;
export const DEFAULT_API_MAX_BYTES = 64 * 1024;

export function getJson(socketPath: string, path: string, options: GetOptions = {}): Promise<Outcome<unknown>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_API_MAX_BYTES;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Outcome<unknown>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const req = request(
      { socketPath, path, method: 'GET', agent: false, headers: { Accept: 'application/json', Host: 'localhost' } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) return finish(fail('malformed', `${socketPath} ${path}: answer over ${maxBytes} bytes`));
          chunks.push(c);
        });
        res.on('error', (err) => finish(failureFromError(err, socketPath, false)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status < 200 || status > 299) {
            return finish(fail('io', `${socketPath} ${path}: HTTP ${status} ${text.slice(0, 200)}`));
          }
          try {
            finish(ok(JSON.parse(text) as unknown));
          } catch {
            finish(fail('malformed', `${socketPath} ${path}: answer is not JSON`));
          }
        });
      },
    );
    const timer = setTimeout(() => finish(fail('io', `${socketPath} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => finish(failureFromError(err, socketPath, false)));
    req.end();
  });
}
