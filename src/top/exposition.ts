// The Prometheus text exposition format (version 0.0.4) as the agent's /metrics writes it:
// `name{label="value",...} number`. Pure; `vmpulse top` reads the agent's counters from it.
import { fail, ok, type Outcome } from '../readers/outcome.js';

export interface ExpoSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  return s.trim() === '' ? NaN : Number(s);
}

/** Every sample of the text; a line that does not parse fails the whole text (it is not ours). */
export function parseExposition(text: string): Outcome<ExpoSample[]> {
  const out: ExpoSample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    const bad = (why: string) => fail('malformed', `line ${n + 1}: ${why}: ${JSON.stringify(raw.slice(0, 200))}`);
    const m = NAME.exec(l);
    if (!m) return bad('no metric name');
    let i = m[0].length;
    const labels: Record<string, string> = {};
    if (l[i] === '{') {
      i++;
      for (;;) {
        while (l[i] === ' ') i++;
        if (l[i] === '}') {
          i++;
          break;
        }
        const ln = LABEL_NAME.exec(l.slice(i));
        if (!ln) return bad('bad label name');
        i += ln[0].length;
        if (l[i] !== '=' || l[i + 1] !== '"') return bad('label without ="value"');
        i += 2;
        let v = '';
        for (;;) {
          const c = l[i];
          if (c === undefined) return bad('unterminated label value');
          i++;
          if (c === '"') break;
          if (c === '\\') {
            const e = l[i++];
            v += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e ?? ''}`;
          } else v += c;
        }
        labels[ln[0]] = v;
        while (l[i] === ' ') i++;
        if (l[i] === ',') i++;
        else if (l[i] !== '}') return bad('expected , or }');
      }
    }
    if (l[i] !== ' ' && l[i] !== '\t') return bad('no value');
    // The value, then an optional timestamp.
    const [valueText] = l.slice(i).trim().split(/\s+/);
    const value = parseValue(valueText ?? '');
    if (Number.isNaN(value) && valueText !== 'NaN') return bad('value is not a number');
    out.push({ name: m[0], labels, value });
  }
  return ok(out);
}
