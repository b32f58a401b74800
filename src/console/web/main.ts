// The console's entry: sign-in, the hash router (#/fleet, #/host/<agent>, #/vm/<agent>/<id>,
// #/alarms, #/credentials) and live refresh (each page re-reads its data every few seconds while
// the tab is visible; nothing reloads).
import { ApiError, currentSession, setSignedOutHandler, signIn, signOut, type Session } from './api.js';
import { alarmsPage } from './alarms.js';
import { credentialsPage } from './credentials.js';
import { el } from './dom.js';
import { fleetPage } from './fleet.js';
import { hostPage } from './host.js';
import type { Page } from './page.js';
import { vmPage } from './vm.js';

const main = document.getElementById('main')!;
const header = document.getElementById('top')!;
let session: Session | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let generation = 0;

function stopLive(): void {
  if (timer) clearTimeout(timer);
  timer = null;
}

function signInPage(message = ''): void {
  stopLive();
  session = null;
  header.hidden = true;
  document.title = 'Sign in — vmpulse';
  const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'signin-error' });
  const error = el('p', { id: 'signin-error', class: 'error', role: 'alert' }, message);
  const form = el(
    'form',
    {
      class: 'signin',
      'aria-labelledby': 'signin-title',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const secret = input.value;
        error.textContent = '';
        signIn(secret).then(
          (s) => {
            input.value = '';
            start(s);
          },
          (err: Error) => {
            error.textContent = err instanceof ApiError && err.status === 401 ? 'Wrong secret: it is not a live reader or admin credential.' : err.message;
            input.select();
          },
        );
      },
    },
    el('h1', { id: 'signin-title' }, 'Sign in to vmpulse'),
    el('label', { for: 'token' }, 'Credential secret (reader or admin)'),
    input,
    error,
    el('button', { type: 'submit' }, 'Sign in'),
    el('p', { class: 'muted' }, 'Make one with ', el('code', {}, 'vmpulse token create --role reader'), '.'),
  );
  main.replaceChildren(form);
  input.focus();
}

function route(): Page {
  const [path, q] = location.hash.replace(/^#/, '').split('?');
  const parts = (path ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(q ?? '');
  if (parts[0] === 'host' && parts[1]) return hostPage(parts[1]);
  if (parts[0] === 'vm' && parts[1] && parts[2]) return vmPage(parts[1], parts[2], query);
  if (parts[0] === 'alarms') return alarmsPage(session!);
  if (parts[0] === 'credentials' && session?.role === 'admin') return credentialsPage();
  return fleetPage();
}

async function tick(page: Page, gen: number): Promise<void> {
  try {
    await page.refresh();
    main.querySelector('.refresh-error')?.remove();
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof ApiError && e.status === 401) return;
    if (!main.querySelector('.refresh-error')) main.prepend(el('p', { class: 'error refresh-error', role: 'alert' }, `Could not load: ${(e as Error).message}`));
  }
  if (gen !== generation) return;
  timer = setTimeout(() => {
    if (document.visibilityState === 'visible') void tick(page, gen);
    else timer = setTimeout(() => void tick(page, gen), 1000);
  }, (page.liveS ?? 15) * 1000);
}

function show(): void {
  if (!session) return;
  stopLive();
  const gen = ++generation;
  const page = route();
  document.title = `${page.title} — vmpulse`;
  const navKey = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] || 'fleet';
  for (const a of header.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (a.dataset.nav === navKey) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  page.render(main);
  main.focus();
  void tick(page, gen);
}

function start(s: Session): void {
  session = s;
  header.hidden = false;
  document.getElementById('who')!.textContent = `${s.name} (${s.role})`;
  (header.querySelector('[data-nav="credentials"]') as HTMLElement).hidden = s.role !== 'admin';
  show();
}

window.addEventListener('hashchange', () => {
  if (session) show();
});
document.getElementById('logout')!.addEventListener('click', () => {
  signOut().then(
    () => signInPage('Signed out.'),
    () => signInPage('Signed out.'),
  );
});
setSignedOutHandler(() => signInPage('Your session has ended; sign in again.'));

currentSession().then(
  (s) => (s ? start(s) : signInPage()),
  (e: Error) => main.replaceChildren(el('p', { class: 'error', role: 'alert' }, `The server did not answer: ${e.message}`)),
);
