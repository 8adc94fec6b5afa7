// Every stream, delivery stream, application and video stream, with its status and its rates
// (from `/metrics`, between two scrapes).
import { html, useState, useRef } from '../vendor/htm-preact-standalone.mjs';
import { kinesis, firehose, analytics, video, all, metrics, sample } from '../api.js';
import { useInterval, Failure, fmt, link } from '../ui.js';
import { Series } from '../charts.js';

async function inventory() {
  const [streams, deliveries, applications, videos] = await Promise.all([
    all(
      (token) => kinesis('ListStreams', token ? { NextToken: token } : {}),
      (p) => [p.StreamSummaries, p.HasMoreStreams ? p.NextToken : null],
    ),
    all(
      (start) => firehose('ListDeliveryStreams', start ? { ExclusiveStartDeliveryStreamName: start } : {}),
      (p) => [p.DeliveryStreamNames, p.HasMoreDeliveryStreams ? p.DeliveryStreamNames.at(-1) : null],
    ).then((names) =>
      Promise.all(
        names.map((name) =>
          firehose('DescribeDeliveryStream', { DeliveryStreamName: name }).then((d) => d.DeliveryStreamDescription),
        ),
      ),
    ),
    all(
      (token) => analytics('ListApplications', token ? { NextToken: token } : {}),
      (p) => [p.ApplicationSummaries, p.NextToken],
    ),
    all(
      (token) => video('/listStreams', token ? { NextToken: token } : {}),
      (p) => [p.StreamInfoList, p.NextToken],
    ),
  ]);
  return { streams, deliveries, applications, videos };
}

const Status = ({ value }) => html`<span class=${`status ${String(value).toLowerCase()}`}>${value}</span>`;

function Table({ caption, head, rows, empty }) {
  return html`<section class="card">
    <h2>${caption}</h2>
    ${rows.length === 0
      ? html`<p class="muted">${empty}</p>`
      : html`<table>
          <thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
          <tbody>${rows}</tbody>
        </table>`}
  </section>`;
}

export function Overview() {
  const [state, setState] = useState({ inv: null, rates: {}, error: null });
  const readings = useRef(new Series());
  useInterval(async () => {
    try {
      const [inv, samples] = await Promise.all([inventory(), metrics()]);
      const counters = {};
      for (const s of inv.streams)
        counters[`s/${s.StreamName}`] = sample(samples, 'kinesis_IncomingRecords_total', { StreamName: s.StreamName });
      for (const d of inv.deliveries)
        counters[`d/${d.DeliveryStreamName}`] = sample(samples, 'firehose_IncomingRecords_total', {
          DeliveryStreamName: d.DeliveryStreamName,
        });
      for (const a of inv.applications)
        counters[`a/${a.ApplicationName}`] = sample(samples, 'kinesisanalytics_Records_total', {
          Application: a.ApplicationName,
          Flow: 'Input',
        });
      for (const v of inv.videos)
        counters[`v/${v.StreamName}`] = sample(samples, 'kinesisvideo_PutMedia_IncomingBytes_total', {
          StreamName: v.StreamName,
        });
      const t = Date.now() / 1000;
      const rates = {};
      for (const [k, v] of Object.entries(counters)) {
        const rate = readings.current.rate(k, t, v);
        if (rate !== null) rates[k] = rate;
      }
      setState({ inv, rates, error: null });
    } catch (error) {
      setState((s) => ({ ...s, error }));
    }
  }, 2000);
  const { inv, rates, error } = state;
  if (!inv) return html`<${Failure} error=${error} />${!error && html`<p>Loading…</p>`}`;
  const rate = (k, unit) => (k in rates ? `${fmt.rate(rates[k])} ${unit}` : '…');
  return html`<h1>Overview</h1>
    <${Failure} error=${error} />
    <div class="grid">
      <${Table}
        caption="Data streams"
        head=${['Name', 'Status', 'Mode', 'Incoming']}
        empty="No data streams."
        rows=${inv.streams.map(
          (s) => html`<tr>
            <td><a href=${link('streams', s.StreamName)}>${s.StreamName}</a></td>
            <td><${Status} value=${s.StreamStatus} /></td>
            <td>${s.StreamModeDetails?.StreamMode || 'PROVISIONED'}</td>
            <td>${rate(`s/${s.StreamName}`, 'records/s')}</td>
          </tr>`,
        )}
      />
      <${Table}
        caption="Delivery streams"
        head=${['Name', 'Status', 'Destination', 'Incoming']}
        empty="No delivery streams."
        rows=${inv.deliveries.map(
          (d) => html`<tr>
            <td><a href=${link('delivery', d.DeliveryStreamName)}>${d.DeliveryStreamName}</a></td>
            <td><${Status} value=${d.DeliveryStreamStatus} /></td>
            <td>${destinationKind(d.Destinations?.[0])}</td>
            <td>${rate(`d/${d.DeliveryStreamName}`, 'records/s')}</td>
          </tr>`,
        )}
      />
      <${Table}
        caption="Applications"
        head=${['Name', 'Status', 'Runtime', 'Input']}
        empty="No applications."
        rows=${inv.applications.map(
          (a) => html`<tr>
            <td><a href=${link('applications', a.ApplicationName)}>${a.ApplicationName}</a></td>
            <td><${Status} value=${a.ApplicationStatus} /></td>
            <td>${a.RuntimeEnvironment}</td>
            <td>${rate(`a/${a.ApplicationName}`, 'records/s')}</td>
          </tr>`,
        )}
      />
      <${Table}
        caption="Video streams"
        head=${['Name', 'Status', 'Media type', 'Incoming']}
        empty="No video streams."
        rows=${inv.videos.map(
          (v) => html`<tr>
            <td><a href=${link('video', v.StreamName)}>${v.StreamName}</a></td>
            <td><${Status} value=${v.Status} /></td>
            <td>${v.MediaType || ''}</td>
            <td>${k(rates, `v/${v.StreamName}`)}</td>
          </tr>`,
        )}
      />
    </div>`;
}

const k = (rates, key) => (key in rates ? `${fmt.bytes(rates[key])}/s` : '…');

export function destinationKind(d) {
  if (!d) return '';
  const kinds = {
    ExtendedS3DestinationDescription: 'Amazon S3',
    S3DestinationDescription: 'Amazon S3',
    HttpEndpointDestinationDescription: 'HTTP endpoint',
    AmazonopensearchserviceDestinationDescription: 'OpenSearch',
    ElasticsearchDestinationDescription: 'Elasticsearch',
    RedshiftDestinationDescription: 'Redshift',
    SplunkDestinationDescription: 'Splunk',
    IcebergDestinationDescription: 'Iceberg',
  };
  const key = Object.keys(kinds).find((k) => k in d);
  return key ? kinds[key] : '';
}
