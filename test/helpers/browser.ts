// Debian's chromium (/usr/bin/chromium) driven by playwright-core, headless, with no network
// beyond what the page asks for (loopback in these tests). Screenshots go to the artefacts dir
// (VMPULSE_TEST_ARTEFACTS, default a temp dir) and stay after the test.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM } from './needs.js';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

let artefacts: string | null = null;
/** Where screenshots and other kept outputs go. */
export function artefactDir(): string {
  if (!artefacts) {
    artefacts = process.env.VMPULSE_TEST_ARTEFACTS ?? mkdtempSync(join(tmpdir(), 'vmpulse-artefacts-'));
    mkdirSync(artefacts, { recursive: true });
  }
  return artefacts;
}
