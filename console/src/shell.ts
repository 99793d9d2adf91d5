import { apiKey, ApiProblem, getJson, onKeyProblem } from './api.ts';
import { clear, h } from './dom.ts';

/**
 * The frame around the pages: navigation (hash routes, so a page can be bookmarked and the back
 * button works), the server status line, the API key dialog, and one place where errors are shown.
 */

export interface Page {
  element: HTMLElement;
  /** Stops timers and requests when the user leaves the page. */
  dispose?: () => void;
}

export interface Shell {
  showError(error: unknown): void;
  clearError(): void;
  /** Reloads the server status (after a key is entered, or when a page wants fresh info). */
  refreshStatus(): Promise<void>;
}

export type PageFactory = (shell: Shell, params: string[]) => Page;

interface Info {
  version?: string;
  auth_required?: boolean;
  model?: { id: string } | null;
  checkpoint?: { version: string } | null;
}

export function startShell(root: HTMLElement, routes: Record<string, { title: string; page: PageFactory }>): void {
  const nav = h('nav', { 'aria-label': 'Pages' }, h('ul', {}, ...Object.entries(routes).map(([path, r]) => h('li', {}, h('a', { href: `#/${path}`, 'data-route': path }, r.title)))));
  const status = h('span', { class: 'server-status', 'data-role': 'server-status', 'aria-live': 'polite' }, 'connecting…');
  const keyButton = h('button', { type: 'button', 'data-role': 'key-button' }, 'Key');
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const main = h('main', { id: 'main', tabindex: -1 });
  const dialog = keyDialog(() => void shell.refreshStatus());
  root.append(
    h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
    h('header', {}, h('h1', {}, 'cir console'), nav, h('div', { class: 'status' }, status, keyButton)),
    banner,
    main,
    dialog,
  );
  keyButton.addEventListener('click', () => dialog.showModal());

  const shell: Shell = {
    showError(error) {
      const message = error instanceof ApiProblem || error instanceof Error ? error.message : String(error);
      clear(banner);
      banner.className = `banner ${error instanceof ApiProblem ? error.kind : 'other'}`;
      banner.append(h('span', {}, message), h('button', { type: 'button', class: 'link', onclick: () => shell.clearError(), 'aria-label': 'Dismiss' }, '×'));
      banner.hidden = false;
    },
    clearError() {
      banner.hidden = true;
      clear(banner);
    },
    async refreshStatus() {
      try {
        const info = await getJson<Info>('/v1/info');
        status.textContent = info.model ? `model ${info.model.id}${info.checkpoint ? ` · checkpoint ${info.checkpoint.version}` : ''}` : 'no model configured (set CIR_MODEL_DIR, CIR_MODEL_URL or CIR_CHECKPOINTS)';
        status.className = `server-status ${info.model ? 'ok' : 'warn'}`;
        if (banner.classList.contains('key_missing') || banner.classList.contains('key_rejected') || banner.classList.contains('server_down')) shell.clearError();
      } catch (error) {
        status.textContent = error instanceof ApiProblem && error.kind === 'server_down' ? 'server down' : error instanceof ApiProblem && error.kind.startsWith('key') ? 'API key needed' : 'status unknown';
        status.className = 'server-status bad';
        shell.showError(error);
      }
    },
  };
  onKeyProblem(() => {
    if (!dialog.open) dialog.showModal();
  });

  let current: Page | null = null;
  const show = () => {
    const [path = '', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    const name = path in routes ? path : Object.keys(routes)[0]!;
    current?.dispose?.();
    shell.clearError();
    current = routes[name]!.page(shell, params);
    main.replaceChildren(current.element);
    document.title = `${routes[name]!.title} · cir console`;
    for (const a of nav.querySelectorAll('a')) {
      if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  };
  addEventListener('hashchange', () => {
    show();
    void shell.refreshStatus();
    main.focus({ preventScroll: true });
  });
  show();
  void shell.refreshStatus();
  // The served checkpoint changes as training publishes: keep the header's line current.
  setInterval(() => void shell.refreshStatus(), STATUS_REFRESH_MS);
}

const STATUS_REFRESH_MS = 15_000;

function keyDialog(onSaved: () => void): HTMLDialogElement {
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, 'aria-describedby': 'key-help' });
  const remember = h('input', { type: 'checkbox', name: 'remember' });
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', {}, 'API key'),
    h('p', { id: 'key-help' }, 'This server was started with CIR_API_KEYS. The key stays in this browser tab (or on this device if you tick the box) and is sent only as an Authorization header.'),
    h('label', {}, 'Key', input),
    h('label', { class: 'inline' }, remember, ' Remember on this device'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', value: 'save' }, 'Save'), h('button', { type: 'button', value: 'forget', onclick: () => (apiKey.clear(), dialog.close()) }, 'Forget key'), h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')),
  );
  const dialog = h('dialog', { 'aria-label': 'API key' }, form);
  form.addEventListener('submit', () => {
    apiKey.set(input.value.trim(), remember.checked);
    input.value = '';
    onSaved();
  });
  return dialog;
}
