// The few synchronous reads discovery makes, answered as Outcomes. Discovery runs seldom and
// reads small files once per process, so plain readFileSync is fine here (the per-tick path keeps
// fds open elsewhere).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { failureFromError, ok, type Outcome } from '../readers/outcome.js';

export function readText(path: string, processFile = true): Outcome<string> {
  try {
    return ok(readFileSync(path, 'utf8'));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}

export function readBytes(path: string, processFile = true): Outcome<Buffer> {
  try {
    return ok(readFileSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}

export function readLink(path: string, processFile = true): Outcome<string> {
  try {
    return ok(readlinkSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}

export function listDir(path: string, processFile = true): Outcome<string[]> {
  try {
    return ok(readdirSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}
