// A video stream: the player (HLS, live or on demand), the timeline of its fragments with the
// gaps between them, and still images across what is stored.
import { html, useState, useEffect, useRef } from '../vendor/htm-preact-standalone.mjs';
import { video } from '../api.js';
import { useInterval, Failure, fmt } from '../ui.js';

const HLS_JS = '/video/assets/hls.light.min.js';
// The timeline covers the last hour of producer time.
const SHOWN_MS = 3600 * 1000;
// A pause longer than this between fragments is drawn as a gap.
const GAP_MS = 1500;

let hlsLoaded;
function loadHls() {
  hlsLoaded ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = HLS_JS;
    script.onload = resolve;
    script.onerror = () => reject(new Error('cannot load the HLS player'));
    document.head.appendChild(script);
  });
  return hlsLoaded;
}

async function fragments(name, startMs, endMs) {
  let out = [];
  let token;
  do {
    const page = await video('/listFragments', token
      ? { StreamName: name, NextToken: token }
      : {
          StreamName: name,
          MaxResults: 1000,
          FragmentSelector: {
            FragmentSelectorType: 'PRODUCER_TIMESTAMP',
            TimestampRange: { StartTimestamp: startMs / 1000, EndTimestamp: endMs / 1000 },
          },
        });
    out = out.concat(page.Fragments || []);
    token = page.NextToken;
  } while (token && out.length < 5000);
  return out
    .map((f) => ({
      number: f.FragmentNumber,
      start: f.ProducerTimestamp * 1000,
      length: f.FragmentLengthInMilliseconds,
      bytes: f.FragmentSizeInBytes,
    }))
    .sort((a, b) => a.start - b.start);
}

const localInput = (ms) => new Date(ms - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19);

export function VideoPage({ name }) {
  const [info, setInfo] = useState(null);
  const [frags, setFrags] = useState([]);
  const [error, setError] = useState(null);
  const [mode, setMode] = useState('LIVE');
  const [range, setRange] = useState(null);
  useInterval(async () => {
    try {
      const d = await video('/describeStream', { StreamName: name });
      const now = Date.now();
      setInfo(d.StreamInfo);
      setFrags(await fragments(name, now - SHOWN_MS, now + 60000));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, 5000, [name]);
  if (!info) return html`<h1>${name}</h1><${Failure} error=${error} />`;
  const first = frags[0];
  const last = frags.at(-1);
  const pick = (startMs) => {
    setMode('ON_DEMAND');
    setRange({ start: startMs, end: last ? last.start + last.length : startMs + 60000 });
  };
  return html`<h1>${name}</h1>
    <${Failure} error=${error} />
    <section class="card">
      <dl class="facts">
        <dt>Status</dt><dd class="status-text">${info.Status}</dd>
        <dt>Media type</dt><dd>${info.MediaType || ''}</dd>
        <dt>Retention</dt><dd>${info.DataRetentionInHours} hours</dd>
        <dt>Fragments</dt><dd>${frags.length}${first ? `, ${fmt.time(first.start)} to ${fmt.time(last.start + last.length)}` : ''}</dd>
      </dl>
    </section>
    <section class="card">
      <h2>Player</h2>
      <form class="row" onSubmit=${(e) => e.preventDefault()}>
        <label>Mode <select name="mode" value=${mode} onChange=${(e) => {
          setMode(e.target.value);
          if (e.target.value === 'ON_DEMAND' && !range && first) pick(first.start);
        }}>
          <option value="LIVE" selected=${mode === 'LIVE'}>Live</option>
          <option value="ON_DEMAND" selected=${mode === 'ON_DEMAND'}>On demand</option>
        </select></label>
        ${mode === 'ON_DEMAND' && range && html`
          <label>From <input type="datetime-local" step="1" value=${localInput(range.start)}
            onChange=${(e) => setRange({ ...range, start: new Date(e.target.value).getTime() })} /></label>
          <label>To <input type="datetime-local" step="1" value=${localInput(range.end)}
            onChange=${(e) => setRange({ ...range, end: new Date(e.target.value).getTime() })} /></label>`}
      </form>
      <${Player} name=${name} mode=${mode} range=${range} />
    </section>
    <section class="card">
      <h2>Timeline</h2>
      <${Timeline} frags=${frags} onPick=${pick} />
    </section>
    <${Images} name=${name} frags=${frags} />`;
}

function Player({ name, mode, range }) {
  const element = useRef(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let hls;
    let live = true;
    window.consolePlayback = { mode, errors: [], engine: '' };
    (async () => {
      const body = { StreamName: name, PlaybackMode: mode, Expires: 43200 };
      if (mode === 'ON_DEMAND') {
        if (!range) return;
        body.HLSFragmentSelector = {
          FragmentSelectorType: 'PRODUCER_TIMESTAMP',
          TimestampRange: { StartTimestamp: range.start / 1000, EndTimestamp: range.end / 1000 },
        };
      }
      const { HLSStreamingSessionURL: url } = await video('/getHLSStreamingSessionURL', body);
      await loadHls();
      if (!live) return;
      const v = element.current;
      if (window.Hls?.isSupported()) {
        window.consolePlayback.engine = 'hls.js';
        hls = new window.Hls({ liveSyncDurationCount: 2 });
        hls.on(window.Hls.Events.ERROR, (_, d) => {
          window.consolePlayback.errors.push(d.details);
          if (d.fatal) setError(new Error(`playback error: ${d.details}`));
        });
        hls.loadSource(url);
        hls.attachMedia(v);
      } else {
        window.consolePlayback.engine = 'native';
        v.src = url;
      }
      v.play().catch(() => {});
    })().catch((e) => live && setError(e));
    return () => {
      live = false;
      hls?.destroy();
    };
  }, [name, mode, range?.start, range?.end]);
  return html`<div>
    <video ref=${element} id="player" controls muted autoplay playsinline aria-label=${`${name} video`}></video>
    <${Failure} error=${error} />
  </div>`;
}

// Fragments along time; gaps in red. Clicking picks the on-demand start.
function Timeline({ frags, onPick }) {
  if (frags.length === 0) return html`<p class="muted">No fragments stored.</p>`;
  const t0 = frags[0].start;
  const t1 = frags.at(-1).start + frags.at(-1).length;
  const W = 1000;
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * W;
  const gaps = [];
  for (let i = 1; i < frags.length; i++) {
    const end = frags[i - 1].start + frags[i - 1].length;
    if (frags[i].start - end > GAP_MS) gaps.push({ from: end, to: frags[i].start });
  }
  const click = (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    onPick(t0 + ((e.clientX - r.left) / r.width) * (t1 - t0));
  };
  return html`<svg class="timeline" viewBox=${`0 0 ${W} 40`} onClick=${click} role="img"
      aria-label=${`${frags.length} fragments, ${gaps.length} gaps, from ${fmt.time(t0)} to ${fmt.time(t1)}`}>
      ${frags.map((f) => html`<rect class="fragment" x=${x(f.start)} y="6" width=${Math.max(1, x(f.start + f.length) - x(f.start))} height="22">
        <title>fragment ${f.number} at ${fmt.time(f.start)}, ${f.length} ms, ${fmt.bytes(f.bytes)}</title></rect>`)}
      ${gaps.map((g) => html`<rect class="gap" x=${x(g.from)} y="2" width=${Math.max(2, x(g.to) - x(g.from))} height="30">
        <title>gap of ${((g.to - g.from) / 1000).toFixed(1)} s from ${fmt.time(g.from)}</title></rect>`)}
    </svg>
    <p class="muted">${fmt.time(t0)} — ${fmt.time(t1)} · ${gaps.length} gap${gaps.length === 1 ? '' : 's'} · click to play from a moment</p>`;
}

function Images({ name, frags }) {
  const [images, setImages] = useState([]);
  const [error, setError] = useState(null);
  const last = frags.at(-1);
  const key = frags.length ? `${frags[0].start}-${last.start}` : '';
  useEffect(() => {
    if (!frags.length) return;
    const start = frags[0].start;
    const end = last.start + last.length;
    video('/getImages', {
      StreamName: name,
      ImageSelectorType: 'PRODUCER_TIMESTAMP',
      StartTimestamp: start / 1000,
      EndTimestamp: end / 1000,
      SamplingInterval: Math.max(200, Math.floor((end - start) / 6)),
      Format: 'JPEG',
      WidthPixels: 240,
      MaxResults: 6,
    }).then(
      (r) => {
        setImages((r.Images || []).filter((i) => i.ImageContent));
        setError(null);
      },
      setError,
    );
  }, [name, key]);
  return html`<section class="card">
    <h2>Images</h2>
    <${Failure} error=${error} />
    ${images.length === 0 && !error && html`<p class="muted">No images.</p>`}
    <div class="images">${images.map(
      (i) => html`<figure><img src=${`data:image/jpeg;base64,${i.ImageContent}`} alt=${`frame at ${fmt.time(i.TimeStamp * 1000)}`} />
        <figcaption>${fmt.time(i.TimeStamp * 1000)}</figcaption></figure>`,
    )}</div>
  </section>`;
}
