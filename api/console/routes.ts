import { Hono } from 'hono';
import { APP_CSS, APP_JS, INDEX_HTML } from './assets.gen.ts';

/**
 * The web console (console/): one page and its script and stylesheet, compiled into the code
 * (assets.gen.ts), so every runtime serves it offline. Loading it needs no key: the page holds no
 * data, and asks for the key before it calls /v1. The policy lets it load only from this origin.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function consoleRoutes(): Hono {
  const asset = (body: string, type: string) => () => new Response(body, { headers: { 'content-type': type, ...SECURITY_HEADERS } });
  return new Hono()
    .get('/', asset(INDEX_HTML, 'text/html; charset=utf-8'))
    .get('/console/app.js', asset(APP_JS, 'text/javascript; charset=utf-8'))
    .get('/console/app.css', asset(APP_CSS, 'text/css; charset=utf-8'));
}
