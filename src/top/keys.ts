// The keys of `vmpulse top`. Pure: a chunk read from the terminal → the actions it asks for.
import type { SortKey } from './model.js';

export type KeyAction = { readonly kind: 'sort'; readonly key: SortKey } | { readonly kind: 'reverse' } | { readonly kind: 'quit' };

const SORT_BY_KEY: Record<string, SortKey> = { c: 'cpu', m: 'mem', n: 'net', d: 'disk', p: 'pid', a: 'name' };
const CTRL_C = '\u0003';

export function keyActions(chunk: string): KeyAction[] {
  // An escape sequence (arrow keys, function keys, a terminal's reply) is one chunk: ignored
  // whole, so that its letters are not read as commands.
  if (chunk.startsWith('\u001b')) return [];
  const out: KeyAction[] = [];
  for (const ch of chunk) {
    if (ch === 'q' || ch === 'Q' || ch === CTRL_C) out.push({ kind: 'quit' });
    else if (ch === 'r') out.push({ kind: 'reverse' });
    else if (SORT_BY_KEY[ch]) out.push({ kind: 'sort', key: SORT_BY_KEY[ch]! });
  }
  return out;
}
