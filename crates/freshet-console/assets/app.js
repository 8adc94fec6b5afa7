// The console's shell: sign-in when the server checks signatures, the navigation, and the
// hash router (`#/streams/<name>`, `#/delivery/<name>`, `#/applications/<name>`,
// `#/video/<name>`; the overview otherwise).
import { html, render, useState, useEffect } from './vendor/htm-preact-standalone.mjs';
import { loadConfig, needsKeys, signIn, signOut, keys } from './api.js';
import { Overview } from './pages/overview.js';
import { StreamPage } from './pages/stream.js';
import { DeliveryPage } from './pages/delivery.js';
import { ApplicationPage } from './pages/application.js';
import { VideoPage } from './pages/video.js';

function SignIn({ onDone }) {
  const [id, setId] = useState('');
  const [secret, setSecret] = useState('');
  const submit = (e) => {
    e.preventDefault();
    signIn(id.trim(), secret.trim());
    onDone();
  };
  return html`<form class="card signin" onSubmit=${submit} aria-label="Sign in">
    <h2>Sign in</h2>
    <p>This server checks SigV4 signatures: the console signs its calls with your key, kept in this tab only.</p>
    <label>Access key ID <input name="accessKeyId" value=${id} onInput=${(e) => setId(e.target.value)} required autocomplete="username" /></label>
    <label>Secret access key <input name="secretAccessKey" type="password" value=${secret}
      onInput=${(e) => setSecret(e.target.value)} required autocomplete="current-password" /></label>
    <button type="submit">Sign in</button>
  </form>`;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return { kind: parts[0] || '', name: parts.slice(1).join('/') };
}

function App() {
  const [ready, setReady] = useState(false);
  const [at, setAt] = useState(route());
  const [, setSigned] = useState(0);
  useEffect(() => {
    loadConfig().then(() => setReady(true));
    const onHash = () => setAt(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (!ready) return html`<p>Loading…</p>`;
  let page;
  if (needsKeys()) page = html`<${SignIn} onDone=${() => setSigned((n) => n + 1)} />`;
  else if (at.kind === 'streams' && at.name) page = html`<${StreamPage} key=${at.name} name=${at.name} />`;
  else if (at.kind === 'delivery' && at.name) page = html`<${DeliveryPage} key=${at.name} name=${at.name} />`;
  else if (at.kind === 'applications' && at.name)
    page = html`<${ApplicationPage} key=${at.name} name=${at.name} />`;
  else if (at.kind === 'video' && at.name) page = html`<${VideoPage} key=${at.name} name=${at.name} />`;
  else page = html`<${Overview} />`;
  return html`<header>
      <a class="brand" href="#/">Freshet</a>
      <nav aria-label="Sections">
        <a href="#/">Overview</a>
        <a href="/metrics">Metrics</a>
      </nav>
      ${keys() && html`<button class="link" onClick=${() => { signOut(); setSigned((n) => n + 1); }}>Sign out</button>`}
    </header>
    <main>${page}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
