import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { failureFromError } from '../src/readers/outcome.js';

test('errno maps to typed failures', () => {
  assert.is(failureFromError({ code: 'ESRCH' }, '/proc/1/stat', true).kind, 'gone');
  assert.is(failureFromError({ code: 'ENOENT' }, '/proc/1/stat', true).kind, 'gone');
  assert.is(failureFromError({ code: 'ENOENT' }, '/sys/class/net/x', false).kind, 'missing');
  assert.is(failureFromError({ code: 'EACCES' }, '/proc/1/io', true).kind, 'denied');
  assert.is(failureFromError({ code: 'EIO' }, '/x', false).kind, 'io');
});

test.run();
