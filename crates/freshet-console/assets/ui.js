// What every page shares: polling and loading hooks, error display, formatting, links.
import { html, useState, useEffect, useRef } from './vendor/htm-preact-standalone.mjs';

// Calls `fn` now and every `ms` while the component is mounted.
export function useInterval(fn, ms, deps = []) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    let live = true;
    const tick = () => live && saved.current();
    tick();
    const id = setInterval(tick, ms);
    return () => {
      live = false;
      clearInterval(id);
    };
  }, deps);
}

// Loads `fn()` when `deps` change; { value, error, reload }.
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ value: null, error: null });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState({ value: null, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  return { ...state, reload: () => setRound((r) => r + 1) };
}

export const Failure = ({ error }) =>
  error ? html`<p class="error" role="alert">${error.message || String(error)}</p>` : null;

export const fmt = {
  rate: (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)),
  bytes: (n) => {
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  },
  time: (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', ''),
};

export const link = (kind, name) => `#/${kind}/${encodeURIComponent(name)}`;
