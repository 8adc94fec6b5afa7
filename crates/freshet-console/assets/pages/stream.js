// A data stream: its summary, the shard picture (hash-key ranges by generation, lines from
// parents to children), live per-shard charts, consumers, a form to put a record and a live
// tail of its records.
import { html, useState, useRef, useEffect } from '../vendor/htm-preact-standalone.mjs';
import { kinesis, all, consoleGet, tail } from '../api.js';
import { useInterval, Failure, fmt } from '../ui.js';
import { Series, LiveChart } from '../charts.js';

const SPACE = 2n ** 128n;
const MAX_TAIL = 200;

async function load(name) {
  const summary = (await kinesis('DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;
  const arn = summary.StreamARN;
  const [shards, consumers] = await Promise.all([
    all(
      (token) => kinesis('ListShards', token ? { NextToken: token } : { StreamName: name }),
      (p) => [p.Shards, p.NextToken],
    ),
    all(
      (token) => kinesis('ListStreamConsumers', token ? { StreamARN: arn, NextToken: token } : { StreamARN: arn }),
      (p) => [p.Consumers, p.NextToken],
    ),
  ]);
  return { summary, shards, consumers };
}

export function StreamPage({ name }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const refresh = () =>
    load(name).then(
      (d) => {
        setData(d);
        setError(null);
      },
      setError,
    );
  useInterval(refresh, 3000, [name]);
  if (!data) return html`<h1>${name}</h1><${Failure} error=${error} />`;
  const s = data.summary;
  return html`<h1>${name}</h1>
    <${Failure} error=${error} />
    <section class="card">
      <dl class="facts">
        <dt>Status</dt><dd class="status-text">${s.StreamStatus}</dd>
        <dt>Capacity mode</dt><dd>${s.StreamModeDetails?.StreamMode || 'PROVISIONED'}</dd>
        <dt>Open shards</dt><dd>${s.OpenShardCount}</dd>
        <dt>Retention</dt><dd>${s.RetentionPeriodHours} hours</dd>
        <dt>Encryption</dt><dd>${s.EncryptionType || 'NONE'}</dd>
        <dt>Enhanced monitoring</dt><dd>${(s.EnhancedMonitoring?.[0]?.ShardLevelMetrics || []).join(', ') || 'off'}</dd>
        <dt>ARN</dt><dd class="mono">${s.StreamARN}</dd>
      </dl>
    </section>
    <${ShardPicture} shards=${data.shards} />
    <${ShardCharts} name=${name} />
    <section class="card">
      <h2>Consumers</h2>
      ${data.consumers.length === 0
        ? html`<p class="muted">No enhanced fan-out consumers.</p>`
        : html`<ul>${data.consumers.map((c) => html`<li>${c.ConsumerName} <span class="muted">${c.ConsumerStatus}</span></li>`)}</ul>`}
    </section>
    <div class="grid two">
      <${PutForm} name=${name} onPut=${refresh} />
      <${Tail} name=${name} shards=${data.shards} />
    </div>`;
}

// Shards by generation (a child below its parents), each across its share of the hash-key space.
function ShardPicture({ shards }) {
  const byId = new Map(shards.map((s) => [s.ShardId, s]));
  const depth = new Map();
  const depthOf = (s) => {
    if (depth.has(s.ShardId)) return depth.get(s.ShardId);
    const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p) => byId.has(p));
    const d = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(byId.get(p)))) : 0;
    depth.set(s.ShardId, d);
    return d;
  };
  shards.forEach(depthOf);
  const rows = Math.max(0, ...depth.values()) + 1;
  const W = 1000;
  const H = 44;
  const x = (key) => Number((BigInt(key) * 100000n) / SPACE) / 100000 * W;
  const box = (s) => {
    const x0 = x(s.HashKeyRange.StartingHashKey);
    const x1 = x(BigInt(s.HashKeyRange.EndingHashKey) + 1n);
    return { x0, x1, y: depth.get(s.ShardId) * H + 4 };
  };
  const lines = [];
  for (const s of shards) {
    for (const p of [s.ParentShardId, s.AdjacentParentShardId]) {
      if (!byId.has(p)) continue;
      const a = box(byId.get(p));
      const b = box(s);
      lines.push(html`<line x1=${(a.x0 + a.x1) / 2} y1=${a.y + 30} x2=${(b.x0 + b.x1) / 2} y2=${b.y} class="lineage" />`);
    }
  }
  return html`<section class="card">
    <h2>Shards</h2>
    <svg class="shards" viewBox=${`0 0 ${W} ${rows * H + 4}`} role="img"
      aria-label=${`${shards.length} shards over ${rows} generations`}>
      ${lines}
      ${shards.map((s) => {
        const b = box(s);
        const open = !s.SequenceNumberRange?.EndingSequenceNumber;
        return html`<g class=${open ? 'shard open' : 'shard closed'} data-shard=${s.ShardId}>
          <title>${s.ShardId} ${open ? 'open' : 'closed'}: hash keys ${s.HashKeyRange.StartingHashKey}–${s.HashKeyRange.EndingHashKey}</title>
          <rect x=${b.x0 + 1} y=${b.y} width=${Math.max(2, b.x1 - b.x0 - 2)} height="30" rx="3" />
          ${b.x1 - b.x0 > 90 && html`<text x=${(b.x0 + b.x1) / 2} y=${b.y + 19}>${s.ShardId.replace('shardId-', '')}</text>`}
        </g>`;
      })}
    </svg>
    <table class="compact">
      <thead><tr><th scope="col">Shard</th><th scope="col">State</th><th scope="col">Parents</th><th scope="col">Hash keys from</th></tr></thead>
      <tbody>${shards.map(
        (s) => html`<tr>
          <td class="mono">${s.ShardId}</td>
          <td>${s.SequenceNumberRange?.EndingSequenceNumber ? 'closed' : 'open'}</td>
          <td class="mono">${[s.ParentShardId, s.AdjacentParentShardId].filter(Boolean).join(', ')}</td>
          <td class="mono">${s.HashKeyRange.StartingHashKey}</td>
        </tr>`,
      )}</tbody>
    </table>
  </section>`;
}

// Write and read rates and iterator age of each shard, from its counters read every second.
function ShardCharts({ name }) {
  const charts = useRef({ writes: new Series(), reads: new Series(), age: new Series() });
  const [tick, setTick] = useState(0);
  const [error, setError] = useState(null);
  useInterval(async () => {
    try {
      const shards = await consoleGet(`streams/${encodeURIComponent(name)}/shards`);
      const t = Date.now() / 1000;
      const c = charts.current;
      const writes = {};
      const reads = {};
      const age = {};
      for (const s of shards.slice(-8)) {
        const id = s.ShardId.replace('shardId-', '');
        writes[id] = c.writes.rate(id, t, s.IncomingRecords);
        reads[id] = c.reads.rate(id, t, s.OutgoingRecords);
        age[id] = s.IteratorAgeMilliseconds;
      }
      c.writes.push(t, writes);
      c.reads.push(t, reads);
      c.age.push(t, age);
      setTick((n) => n + 1);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, 1000, [name]);
  const c = charts.current;
  return html`<section class="card">
    <h2>Per-shard rates</h2>
    <${Failure} error=${error} />
    <div class="charts">
      <${LiveChart} title="Writes (records/s)" unit="records/s" series=${c.writes} tick=${tick} />
      <${LiveChart} title="Reads (records/s)" unit="records/s" series=${c.reads} tick=${tick} />
      <${LiveChart} title="Iterator age (ms)" unit="ms" series=${c.age} tick=${tick} />
    </div>
  </section>`;
}

function PutForm({ name, onPut }) {
  const [key, setKey] = useState('console');
  const [data, setData] = useState('');
  const [hashKey, setHashKey] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const body = { StreamName: name, PartitionKey: key, Data: toBase64(new TextEncoder().encode(data)) };
      if (hashKey) body.ExplicitHashKey = hashKey;
      setResult(await kinesis('PutRecord', body));
      setError(null);
      onPut();
    } catch (err) {
      setError(err);
      setResult(null);
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-label="Put a record">
    <h2>Put a record</h2>
    <label>Partition key <input name="partitionKey" value=${key} onInput=${(e) => setKey(e.target.value)} required maxlength="256" /></label>
    <label>Data <textarea name="data" rows="4" value=${data} onInput=${(e) => setData(e.target.value)}></textarea></label>
    <label>Explicit hash key (optional) <input name="explicitHashKey" value=${hashKey} onInput=${(e) => setHashKey(e.target.value)} inputmode="numeric" /></label>
    <button type="submit">Put record</button>
    <${Failure} error=${error} />
    ${result && html`<p class="ok" role="status">Put to <span class="mono">${result.ShardId}</span> at <span class="mono">${result.SequenceNumber}</span></p>`}
  </form>`;
}

function toBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function decode(b64, as) {
  const bytes = fromBase64(b64);
  if (as === 'hex') return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (as === 'json') {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return `${text}  (not JSON)`;
    }
  }
  return text;
}

// Records as they arrive, from where GetShardIterator would start.
export function Tail({ name, shards = [], initialDecode = 'utf8' }) {
  const [position, setPosition] = useState('LATEST');
  const [at, setAt] = useState('');
  const [shard, setShard] = useState('');
  const [as, setAs] = useState(initialDecode);
  const [running, setRunning] = useState(null);
  const [live, setLive] = useState(false);
  const [records, setRecords] = useState([]);
  const [note, setNote] = useState(null);
  const [error, setError] = useState(null);
  const stop = () => {
    running?.abort();
    setRunning(null);
    setLive(false);
  };
  useEffect(() => () => running?.abort(), [running]);
  const start = (e) => {
    e?.preventDefault();
    running?.abort();
    const params = { position };
    if (position === 'AT_TIMESTAMP') params.timestamp = String(new Date(at).getTime());
    if (position.endsWith('SEQUENCE_NUMBER')) params.sequence = at;
    if (shard) params.shard = shard;
    const abort = new AbortController();
    // Only the current tail may change what is shown: a replaced one's last events are dropped.
    const mine = () => !abort.signal.aborted;
    setRecords([]);
    setError(null);
    setNote(null);
    setLive(false);
    setRunning(abort);
    const ended = (err) => {
      if (!mine()) return;
      setError(err || null);
      setRunning(null);
      setLive(false);
    };
    tail(name, params, {
      signal: abort.signal,
      onOpen: () => mine() && setLive(true),
      onRecord: (r) => mine() && setRecords((rs) => [r, ...rs].slice(0, MAX_TAIL)),
      onSkip: (message) => mine() && setNote(message),
    }).then(() => ended(), ended);
  };
  // Tailing starts at once (from LATEST), so what is put next shows.
  useEffect(() => {
    start();
  }, [name]);
  return html`<section class="card tail" aria-label="Live tail">
    <h2>Live tail ${live && html`<span class="live" aria-label="tailing">●</span>`}</h2>
    <form class="row" onSubmit=${start}>
      <label>Start <select name="position" value=${position} onChange=${(e) => setPosition(e.target.value)}>
        ${['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP', 'AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER'].map((p) => html`<option value=${p} selected=${p === position}>${p}</option>`)}
      </select></label>
      ${position === 'AT_TIMESTAMP' && html`<label>At <input type="datetime-local" step="1" value=${at} onInput=${(e) => setAt(e.target.value)} required /></label>`}
      ${position.endsWith('SEQUENCE_NUMBER') && html`<label>Sequence number <input value=${at} onInput=${(e) => setAt(e.target.value)} required /></label>`}
      <label>Shard <select name="shard" value=${shard} onChange=${(e) => setShard(e.target.value)}>
        <option value="" selected=${shard === ''}>all</option>
        ${shards.map((s) => html`<option value=${s.ShardId} selected=${s.ShardId === shard}>${s.ShardId}</option>`)}
      </select></label>
      <label>Show as <select name="decode" value=${as} onChange=${(e) => setAs(e.target.value)}>
        ${[['utf8', 'UTF-8'], ['json', 'JSON'], ['hex', 'hex']].map(([v, l]) => html`<option value=${v} selected=${v === as}>${l}</option>`)}
      </select></label>
      <button type="submit">${running ? 'Restart' : 'Start'}</button>
      ${running && html`<button type="button" onClick=${stop}>Stop</button>`}
    </form>
    <${Failure} error=${error} />
    ${note && html`<p class="muted" role="status">${note}</p>`}
    <ol class="records" aria-live="polite">
      ${records.map(
        (r) => html`<li class="record" data-seq=${r.SequenceNumber}>
          <div class="meta"><span>${fmt.time(r.ApproximateArrivalTimestamp)}</span>
            <span class="mono">${r.ShardId.replace('shardId-', '')}</span>
            <span>key <b>${r.PartitionKey}</b></span>
            <span class="mono seq">${r.SequenceNumber}</span></div>
          ${r.UserRecords
            ? html`<div class="muted">KPL aggregate: ${r.UserRecords.length} user records</div>
                <ol class="user-records">${r.UserRecords.map((u) => html`<li><pre>${decode(u, as)}</pre></li>`)}</ol>`
            : html`<pre class="data">${decode(r.Data, as)}</pre>`}
        </li>`,
      )}
    </ol>
  </section>`;
}
