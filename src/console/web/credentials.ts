// Credentials page (admins): list, create (the secret is shown once, here, and nowhere else), revoke.
import { del, get, post } from './api.js';
import { el, fmtTime } from './dom.js';
import type { Page } from './page.js';

interface Cred {
  access_key_id: string;
  name: string;
  role: string;
  agent_id: string | null;
  created_at: number;
  revoked_at: number | null;
}

export function credentialsPage(): Page {
  const list = el('div', { class: 'scroll' });
  const created = el('div', { role: 'status' });
  const role = el('select', { id: 'cred-role', name: 'role' }, ...['reader', 'agent', 'admin'].map((r) => el('option', { value: r }, r)));
  const name = el('input', { id: 'cred-name', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  let page: Page;
  const form = el(
    'form',
    {
      class: 'toolbar',
      onsubmit: (e: Event) => {
        e.preventDefault();
        post<Cred & { secret: string }>('/console/api/credentials', { role: role.value, name: name.value }).then(
          (c) => {
            const secret = el('input', { readonly: true, value: c.secret, 'aria-label': 'New secret', size: 50 });
            created.replaceChildren(el('p', {}, `Created ${c.role} credential ${c.access_key_id}. Its secret is shown only now: `), secret);
            name.value = '';
            void page.refresh();
          },
          (err: Error) => created.replaceChildren(el('p', { class: 'error' }, err.message)),
        );
      },
    },
    el('label', { for: 'cred-role' }, 'Role'),
    role,
    el('label', { for: 'cred-name' }, 'Name'),
    name,
    el('button', { type: 'submit' }, 'Create credential'),
  );
  page = {
    title: 'Credentials',
    liveS: 60,
    render(root) {
      root.replaceChildren(el('h1', {}, 'Credentials'), form, created, list);
    },
    async refresh() {
      const r = await get<{ credentials: Cred[] }>('/console/api/credentials');
      list.replaceChildren(
        el(
          'table',
          { 'aria-label': 'Credentials' },
          el('thead', {}, el('tr', {}, ...['Access key id', 'Name', 'Role', 'Agent', 'Created', 'Status', ''].map((x) => el('th', { scope: 'col' }, x)))),
          el(
            'tbody',
            {},
            ...r.credentials.map((c) =>
              el(
                'tr',
                {},
                el('td', {}, c.access_key_id),
                el('td', {}, c.name),
                el('td', {}, c.role),
                el('td', {}, c.agent_id ?? '–'),
                el('td', {}, fmtTime(c.created_at)),
                el('td', {}, c.revoked_at ? `revoked ${fmtTime(c.revoked_at)}` : 'live'),
                el(
                  'td',
                  {},
                  c.revoked_at
                    ? ''
                    : el(
                        'button',
                        {
                          type: 'button',
                          'aria-label': `Revoke ${c.access_key_id}`,
                          onclick: () => {
                            if (confirm(`Revoke ${c.name} (${c.access_key_id})?`)) del(`/console/api/credentials/${encodeURIComponent(c.access_key_id)}`).then(() => void page.refresh(), (e: Error) => created.replaceChildren(el('p', { class: 'error' }, e.message)));
                          },
                        },
                        'Revoke',
                      ),
                ),
              ),
            ),
          ),
        ),
      );
    },
  };
  return page;
}
