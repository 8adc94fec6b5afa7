// A delivery stream: its configuration, how full its buffer is, its recent deliveries (objects
// written, HTTP endpoint answers) and failures with their error-output objects, and freshness.
import { html, useState } from '../vendor/htm-preact-standalone.mjs';
import { firehose, consoleGet, metrics, sample } from '../api.js';
import { useInterval, Failure, fmt } from '../ui.js';
import { destinationKind } from './overview.js';

const DELIVERY_METRICS = [
  'DeliveryToS3',
  'DeliveryToHttpEndpoint',
  'DeliveryToAmazonOpenSearchService',
  'DeliveryToRedshift',
  'DeliveryToSplunk',
];

export function DeliveryPage({ name }) {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  useInterval(async () => {
    try {
      const [description, deliveries, samples] = await Promise.all([
        firehose('DescribeDeliveryStream', { DeliveryStreamName: name }),
        consoleGet(`deliverystreams/${encodeURIComponent(name)}/deliveries`),
        metrics(),
      ]);
      setState({ d: description.DeliveryStreamDescription, deliveries, samples });
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, 2000, [name]);
  if (!state) return html`<h1>${name}</h1><${Failure} error=${error} />`;
  const { d, deliveries, samples } = state;
  const labels = { DeliveryStreamName: name };
  const value = (metric) => sample(samples, metric, labels);
  const destination = d.Destinations?.[0] || {};
  const hints = Object.values(destination).find((v) => v && v.BufferingHints)?.BufferingHints;
  const limit = (hints?.SizeInMBs || 5) * 1024 * 1024;
  const backlog = value('firehose_BacklogBytes');
  const targets = DELIVERY_METRICS.filter((m) => samples.some((s) => s.name.startsWith(`firehose_${m}_`) && s.labels.DeliveryStreamName === name && s.value > 0));
  const failures = deliveries.filter((x) => x.Error || x.Destination.startsWith('S3 error output'));
  return html`<h1>${name}</h1>
    <${Failure} error=${error} />
    <section class="card">
      <dl class="facts">
        <dt>Status</dt><dd class="status-text">${d.DeliveryStreamStatus}</dd>
        <dt>Source</dt><dd>${d.DeliveryStreamType === 'KinesisStreamAsSource' ? `Kinesis stream ${d.Source?.KinesisStreamSourceDescription?.KinesisStreamARN?.split('/').pop()}` : 'Direct PUT'}</dd>
        <dt>Destination</dt><dd>${destinationKind(destination)}</dd>
        <dt>Buffering</dt><dd>${hints ? `${hints.SizeInMBs} MiB or ${hints.IntervalInSeconds} s` : ''}</dd>
        <dt>Incoming</dt><dd>${value('firehose_IncomingRecords_total')} records, ${fmt.bytes(value('firehose_IncomingBytes_total'))}</dd>
      </dl>
      <label class="meter">Buffer fill <meter min="0" max=${limit} value=${backlog}>${backlog}</meter> ${fmt.bytes(backlog)} of ${fmt.bytes(limit)}</label>
    </section>
    <section class="card">
      <h2>Delivery</h2>
      ${targets.length === 0 && html`<p class="muted">Nothing delivered yet.</p>`}
      <table class="compact">
        <tbody>${targets.map(
          (m) => html`<tr>
            <th scope="row">${m.replace('DeliveryTo', '')}</th>
            <td>${value(`firehose_${m}_Records_total`)} records</td>
            <td>${fmt.bytes(value(`firehose_${m}_Bytes_total`))}</td>
            <td>${value(`firehose_${m}_Success`) === 1 ? 'succeeding' : 'failing'}</td>
            <td>freshness ${value(`firehose_${m}_DataFreshness`)} s</td>
          </tr>`,
        )}</tbody>
      </table>
    </section>
    <section class="card">
      <h2>Last deliveries</h2>
      <${Deliveries} rows=${deliveries} empty="No deliveries yet." />
    </section>
    <section class="card">
      <h2>Errors</h2>
      <${Deliveries} rows=${failures} empty="No errors." />
    </section>
    <section class="card">
      <h2>Configuration</h2>
      <pre class="config">${JSON.stringify(d, null, 2)}</pre>
    </section>`;
}

function Deliveries({ rows, empty }) {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<table class="compact deliveries">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Where</th><th scope="col">Size</th><th scope="col">Outcome</th></tr></thead>
    <tbody>${rows.map(
      (x) => html`<tr class=${x.Error ? 'failed' : ''}>
        <td>${fmt.time(x.AtMs)}</td>
        <td>${x.Destination}</td>
        <td class="mono">${x.Target}</td>
        <td>${fmt.bytes(x.Bytes)}</td>
        <td>${x.Error || 'delivered'}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}
