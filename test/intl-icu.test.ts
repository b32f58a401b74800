// What keeps ICU unloaded in the agent, each in a child process so that this process's Intl stays
// as it is: the deferred Intl.ListFormat (src/defer-list-format.ts) — importing got makes no real
// ListFormat once the deferral is in place (two without it), and a deferred formatter words lists
// exactly as the real one does — and disks ordered without String#localeCompare.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const srcModule = (...path: string[]) => pathToFileURL(join(here, '..', 'src', ...path)).href;

/** Runs `body` in a fresh node with Intl.ListFormat counting the real formatters made; returns its JSON. */
function child(defer: boolean): { made: number; words: string[]; parts: string; instance: boolean; supported: string[] } {
  const script = `
    const Real = Intl.ListFormat;
    let made = 0;
    Intl.ListFormat = new Proxy(Real, { construct(t, a) { made++; return new t(...a); } });
    ${defer ? `(await import(${JSON.stringify(srcModule('defer-list-format.js'))})).deferListFormat();` : ''}
    await import('got');
    const afterGot = made;
    const lists = [['a'], ['a', 'b'], ['x', 'y', 'z']];
    const words = [];
    for (const type of ['conjunction', 'disjunction', 'unit']) {
      const f = new Intl.ListFormat('en', { style: 'long', type });
      for (const l of lists) words.push(f.format(l));
    }
    const f = new Intl.ListFormat('en', { type: 'disjunction' });
    const parts = JSON.stringify(f.formatToParts(['1', '2'])) + JSON.stringify(f.resolvedOptions());
    process.stdout.write(JSON.stringify({ made: afterGot, words, parts, instance: f instanceof Intl.ListFormat, supported: Intl.ListFormat.supportedLocalesOf(['en', 'de']) }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(here, '..', '..'), encoding: 'utf8' });
  return JSON.parse(out);
}

const s = suite('Intl and ICU in the agent');

s('got makes no real ListFormat with the deferral (two without); lists are worded as by the real one', () => {
  const plain = child(false);
  const deferred = child(true);
  assert.is(plain.made, 2, 'got makes two ListFormats as it is imported (the reason for the deferral)');
  assert.is(deferred.made, 0, 'with the deferral, none is built until a list is formatted');
  assert.equal(deferred.words, plain.words);
  assert.equal(deferred.words.slice(0, 6), ['a', 'a and b', 'x, y, and z', 'a', 'a or b', 'x, y, or z']);
  assert.is(deferred.parts, plain.parts);
  assert.ok(deferred.instance, 'a deferred formatter is an Intl.ListFormat');
  assert.equal(deferred.supported, plain.supported);
});

s('disks are ordered without localeCompare, by name', () => {
  const script = `
    let calls = 0;
    const lc = String.prototype.localeCompare;
    String.prototype.localeCompare = function (...a) { calls++; return lc.apply(this, a); };
    const { mergeDiskWindows } = await import(${JSON.stringify(srcModule('ship', 'window-merge.js'))});
    const { parseChCounters } = await import(${JSON.stringify(srcModule('collect', 'disks', 'parse-ch-counters.js'))});
    const d = (Device) => ({ Device, ReadBytes: 1, WriteBytes: 2, ReadOps: 3, WriteOps: 4 });
    const merged = mergeDiskWindows([d('vdb'), d('sda')], [d('vda'), d('vdb')]).map((x) => x.Device);
    const c = (n) => ({ read_bytes: n, write_bytes: 0, read_ops: 1, write_ops: 0 });
    const ch = parseChCounters({ _disk1: c(1), _disk0: c(2), _disk10: c(3) }).value.map((x) => x.device);
    process.stdout.write(JSON.stringify({ calls, merged, ch }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  assert.equal(out, { calls: 0, merged: ['sda', 'vda', 'vdb'], ch: ['_disk0', '_disk1', '_disk10'] });
});

s.run();
