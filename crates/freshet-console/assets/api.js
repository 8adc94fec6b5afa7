// How the console talks to the server: the public AWS APIs (signed with SigV4 when the server
// has keys, as any client signs) and the read-only console endpoints, signed the same way.
import { AwsClient } from './vendor/aws4fetch.mjs';

const KEYS = 'freshet.console.keys';
let config = { auth: false, region: 'us-east-1' };

export class ApiError extends Error {
  constructor(type, message, status) {
    super(`${type}: ${message}`);
    this.type = type;
    this.status = status;
  }
}

export async function loadConfig() {
  const response = await fetch('/console/api/config');
  config = await response.json();
  return config;
}

export function keys() {
  try {
    return JSON.parse(sessionStorage.getItem(KEYS));
  } catch {
    return null;
  }
}

export function signIn(accessKeyId, secretAccessKey) {
  sessionStorage.setItem(KEYS, JSON.stringify({ accessKeyId, secretAccessKey }));
}

export function signOut() {
  sessionStorage.removeItem(KEYS);
}

export const needsKeys = () => config.auth && !keys();

// A fetch, signed for `service` when the server checks signatures.
async function send(service, path, init = {}) {
  const url = new URL(path, location.origin).toString();
  if (!config.auth) return fetch(url, init);
  const k = keys();
  if (!k) throw new ApiError('MissingAuthenticationToken', 'Sign in with an access key first.', 403);
  const client = new AwsClient({ ...k, service, region: config.region, retries: 0 });
  return client.fetch(url, init);
}

async function answer(response) {
  const text = await response.text();
  let doc = {};
  try {
    doc = text ? JSON.parse(text) : {};
  } catch {
    doc = { message: text };
  }
  if (!response.ok) {
    const type = String(doc.__type || doc.code || response.status).split('#').pop();
    throw new ApiError(type, doc.message || doc.Message || response.statusText, response.status);
  }
  return doc;
}

// An AWS JSON 1.1 call: `X-Amz-Target: <prefix>.<op>`.
async function target(service, prefix, op, body) {
  const response = await send(service, '/', {
    method: 'POST',
    headers: { 'X-Amz-Target': `${prefix}.${op}`, 'Content-Type': 'application/x-amz-json-1.1' },
    body: JSON.stringify(body || {}),
  });
  return answer(response);
}

export const kinesis = (op, body) => target('kinesis', 'Kinesis_20131202', op, body);
export const firehose = (op, body) => target('firehose', 'Firehose_20150804', op, body);
export const analytics = (op, body) =>
  target('kinesisanalytics', 'KinesisAnalytics_20180523', op, body);

// A Kinesis Video rest-json call: `POST /<operation path>`.
export async function video(path, body) {
  const response = await send('kinesisvideo', path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body || {}),
  });
  return answer(response);
}

export async function consoleGet(path) {
  return answer(await send('kinesis', `/console/api/${path}`));
}

// Every page of a paginated list: `take(page)` gives the page's items and its next token.
export async function all(call, take) {
  let out = [];
  let token;
  do {
    const page = await call(token);
    const [items, next] = take(page);
    out = out.concat(items || []);
    token = next;
  } while (token);
  return out;
}

// The stream's records as they arrive (server-sent events read from a signed fetch: an
// EventSource cannot sign). `onOpen` once the server placed the tail (a record put after it
// shows), `onRecord` with each record, `onSkip` when the server skipped ahead of a stream busier
// than a tail shows; resolves when the feed ends or `signal` aborts.
export async function tail(stream, params, { onOpen, onRecord, onShardEnd, onSkip, signal }) {
  const query = new URLSearchParams(params).toString();
  const response = await send('kinesis', `/console/api/streams/${encodeURIComponent(stream)}/tail?${query}`, {
    signal,
    headers: { Accept: 'text/event-stream' },
  });
  if (!response.ok) await answer(response);
  onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
        }
        if (event === 'message' && data) onRecord(JSON.parse(data));
        else if (event === 'shard-end') onShardEnd?.(data);
        else if (event === 'skipped') onSkip?.(data);
        else if (event === 'error') throw new ApiError('TailError', data, 500);
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  }
}

// One scrape of `/metrics`: every sample as { name, labels, value }.
export async function metrics() {
  const text = await (await fetch('/metrics')).text();
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

// The value of `name` whose labels include `match`, or 0.
export function sample(samples, name, match) {
  const s = samples.find(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
  return s ? s.value : 0;
}
