// Live line charts (uPlot) and the rates behind them: counters read every tick become
// per-second rates between two readings.
import { html, useEffect, useRef } from './vendor/htm-preact-standalone.mjs';
import uPlot from './vendor/uPlot.esm.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
// Points kept per series: two minutes at one reading a second.
const KEEP = 120;

// A time series per key, fed with counter readings; `rate()` turns a counter into per-second.
export class Series {
  constructor() {
    this.times = [];
    this.values = new Map();
    this.last = new Map();
  }

  // Adds one reading: `points` maps a key to its value at `t` (seconds).
  push(t, points) {
    this.times.push(t);
    for (const [key, value] of Object.entries(points)) {
      if (!this.values.has(key)) this.values.set(key, new Array(this.times.length - 1).fill(null));
    }
    for (const [key, values] of this.values) values.push(key in points ? points[key] : null);
    if (this.times.length > KEEP) {
      this.times.shift();
      for (const values of this.values.values()) values.shift();
    }
  }

  // The per-second rate of a counter since its previous reading (null on the first).
  rate(key, t, counter) {
    const prev = this.last.get(key);
    this.last.set(key, [t, counter]);
    if (!prev || t <= prev[0]) return null;
    return Math.max(0, (counter - prev[1]) / (t - prev[0]));
  }

  data() {
    return [this.times, ...this.values.values()];
  }

  keys() {
    return [...this.values.keys()];
  }
}

// A uPlot chart of `series`, redrawn whenever `tick` changes.
export function LiveChart({ title, unit, series, tick }) {
  const box = useRef(null);
  const plot = useRef(null);
  const shape = useRef('');
  useEffect(() => {
    const keys = series.keys();
    const width = Math.max(280, Math.min(560, box.current.clientWidth || 560));
    if (shape.current !== keys.join('|') || !plot.current) {
      plot.current?.destroy();
      shape.current = keys.join('|');
      plot.current = new uPlot(
        {
          width,
          height: 180,
          series: [
            {},
            ...keys.map((k, i) => ({ label: k, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true })),
          ],
          // The last two minutes, however few readings there are yet.
          scales: { x: { time: true, range: (u, min, max) => [max - KEEP, max] } },
          axes: [{}, { label: unit, size: 60 }],
          legend: { live: false },
        },
        series.data(),
        box.current,
      );
    } else {
      plot.current.setData(series.data());
    }
  }, [tick]);
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} role="img" aria-label=${title}></div>
  </figure>`;
}
