// The API questions of discovery: one per process and path, ever. The answer (or failure) is kept
// per process key, so a hypervisor that hangs costs one timeout, not one per scan; it is
// forgotten when the process goes.
import type { Outcome } from '../readers/outcome.js';
import { getJson } from './api-client.js';

export class ApiQuestions {
  private readonly answers = new Map<string, Promise<Outcome<unknown>>>();

  constructor(private readonly timeoutMs: number) {}

  /** The answer of `GET path` on the socket; `asked` is called when the question really goes out. */
  ask(key: string, socket: string, path: string, asked: () => void): Promise<Outcome<unknown>> {
    const cacheKey = `${key}|${path}`;
    let p = this.answers.get(cacheKey);
    if (!p) {
      asked();
      p = getJson(socket, path, { timeoutMs: this.timeoutMs });
      this.answers.set(cacheKey, p);
    }
    return p;
  }

  forget(key: string): void {
    for (const k of this.answers.keys()) if (k.startsWith(`${key}|`)) this.answers.delete(k);
  }
}
