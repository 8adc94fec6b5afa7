// An application: its SQL, its inputs (and the in-application streams they feed), its outputs
// with their rows live (a tail of each output data stream), its metrics and its errors.
import { html, useState } from '../vendor/htm-preact-standalone.mjs';
import { analytics, consoleGet, metrics, sample } from '../api.js';
import { useInterval, Failure, fmt, link } from '../ui.js';
import { Tail } from './stream.js';

const streamName = (arn) => arn?.split('/').pop();

export function ApplicationPage({ name }) {
  const [state, setState] = useState(null);
  // One output tailed at a time: each tail holds a connection open.
  const [shown, setShown] = useState(0);
  const [error, setError] = useState(null);
  useInterval(async () => {
    try {
      const [detail, samples, errors] = await Promise.all([
        analytics('DescribeApplication', { ApplicationName: name }),
        metrics(),
        consoleGet(`applications/${encodeURIComponent(name)}/errors`),
      ]);
      setState({ app: detail.ApplicationDetail, samples, errors });
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, 2000, [name]);
  if (!state) return html`<h1>${name}</h1><${Failure} error=${error} />`;
  const { app, samples, errors } = state;
  const config = app.ApplicationConfigurationDescription || {};
  const code = config.ApplicationCodeConfigurationDescription?.CodeContentDescription?.TextContent || '';
  const sql = config.SqlApplicationConfigurationDescription || {};
  const inputs = sql.InputDescriptions || [];
  const outputs = sql.OutputDescriptions || [];
  const value = (metric, flow) =>
    sample(samples, metric, flow ? { Application: name, Flow: flow } : { Application: name });
  const outputStreams = outputs.map((o) => streamName(o.KinesisStreamsOutputDescription?.ResourceARN)).filter(Boolean);
  return html`<h1>${name}</h1>
    <${Failure} error=${error} />
    <section class="card">
      <dl class="facts">
        <dt>Status</dt><dd class="status-text">${app.ApplicationStatus}</dd>
        <dt>Runtime</dt><dd>${app.RuntimeEnvironment}</dd>
        <dt>Version</dt><dd>${app.ApplicationVersionId}</dd>
        <dt>Input</dt><dd>${value('kinesisanalytics_Records_total', 'Input')} records, ${fmt.bytes(value('kinesisanalytics_Bytes_total', 'Input'))}</dd>
        <dt>Output</dt><dd>${value('kinesisanalytics_Records_total', 'Output')} records, ${fmt.bytes(value('kinesisanalytics_Bytes_total', 'Output'))}</dd>
        <dt>Behind latest</dt><dd>${value('kinesisanalytics_MillisBehindLatest')} ms</dd>
      </dl>
    </section>
    <section class="card">
      <h2>SQL</h2>
      <pre class="sql">${code || 'No code.'}</pre>
    </section>
    <div class="grid two">
      <section class="card">
        <h2>Inputs</h2>
        ${inputs.length === 0 && html`<p class="muted">No inputs.</p>`}
        <ul>${inputs.map((i) => html`<li>
          ${i.KinesisStreamsInputDescription
            ? html`stream <a href=${link('streams', streamName(i.KinesisStreamsInputDescription.ResourceARN))}>${streamName(i.KinesisStreamsInputDescription.ResourceARN)}</a>`
            : html`delivery stream ${streamName(i.KinesisFirehoseInputDescription?.ResourceARN)}`}
          → in-application ${(i.InAppStreamNames || [i.NamePrefix]).map((s) => html`<code>${s}</code> `)}
          ${i.InputSchema && html`<div class="muted">${(i.InputSchema.RecordColumns || []).map((c) => `${c.Name} ${c.SqlType}`).join(', ')}</div>`}
        </li>`)}</ul>
      </section>
      <section class="card">
        <h2>Outputs</h2>
        ${outputs.length === 0 && html`<p class="muted">No outputs.</p>`}
        <ul>${outputs.map((o) => html`<li>
          <code>${o.Name}</code> →
          ${o.KinesisStreamsOutputDescription
            ? html`stream <a href=${link('streams', streamName(o.KinesisStreamsOutputDescription.ResourceARN))}>${streamName(o.KinesisStreamsOutputDescription.ResourceARN)}</a>`
            : o.KinesisFirehoseOutputDescription
              ? html`delivery stream <a href=${link('delivery', streamName(o.KinesisFirehoseOutputDescription.ResourceARN))}>${streamName(o.KinesisFirehoseOutputDescription.ResourceARN)}</a>`
              : 'a Lambda function'}
          <span class="muted"> as ${o.DestinationSchema?.RecordFormatType}</span>
        </li>`)}</ul>
      </section>
    </div>
    <section class="card">
      <h2>Errors</h2>
      ${errors.length === 0
        ? html`<p class="muted">No errors.</p>`
        : html`<ul class="errors">${errors.map((e) => html`<li><span>${fmt.time(e.AtMs)}</span> ${e.Message}</li>`)}</ul>`}
    </section>
    ${outputStreams.length > 0 && html`<h2>Output rows</h2>
      ${outputStreams.length > 1 && html`<label>Output stream <select name="output" onChange=${(e) => setShown(Number(e.target.value))}>
        ${outputStreams.map((s, i) => html`<option value=${i} selected=${i === shown}>${s}</option>`)}
      </select></label>`}
      <${Tail} key=${outputStreams[shown] || outputStreams[0]} name=${outputStreams[shown] || outputStreams[0]} initialDecode="json" />`}`;
}
