// Drives the console in headless Chromium and reports, as one JSON line, what each page showed.
// Usage: node console.mjs '<json>' where the JSON names the server `url`, a `stream`, and
// optionally a `delivery`, an `application` (with its `applicationInput` stream and an
// `applicationRow` to put there), a `video` stream, `keys` ({accessKeyId, secretAccessKey})
// and `shots` (a directory for screenshots).
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const result = { consoleErrors: [], pageErrors: [], failedRequests: [], steps: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu'],
});

function watch(page) {
  page.on('console', (m) => m.type() === 'error' && result.consoleErrors.push(`${m.text()} (${m.location().url})`));
  page.on('pageerror', (e) => result.pageErrors.push(String(e)));
  page.on('response', async (r) => {
    if (r.status() >= 400) {
      const request = r.request();
      result.failedRequests.push(`${r.status()} ${request.headers()['x-amz-target'] || request.url()} ${await r.text().catch(() => '')}`);
    }
  });
}

async function shot(page, name) {
  if (cfg.shots) await page.screenshot({ path: `${cfg.shots}/${name}.png`, fullPage: true });
}

// A call through the console's own API module (signed as the page signs).
async function api(page, service, op, body) {
  return page.evaluate(
    async ([service, op, body]) => (await import('/console/assets/api.js'))[service](op, body),
    [service, op, body],
  );
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    result.steps.push({ name, ok: false, error: String(e).slice(0, 600) });
  }
}

// Whether any input, select or textarea lacks a label (for people using a screen reader).
const unlabelled = (page) =>
  page.$$eval('input, select, textarea', (els) =>
    els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.name || e.outerHTML.slice(0, 80)),
  );

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page);

  await step('overview', async () => {
    await page.goto(`${cfg.url}/`);
    result.landed = new URL(page.url()).pathname;
    if (cfg.keys) {
      await page.getByLabel('Access key ID').fill(cfg.keys.accessKeyId);
      await page.getByLabel('Secret access key').fill(cfg.keys.secretAccessKey);
      await shot(page, 'sign-in');
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await page.waitForSelector(`a[href="#/streams/${encodeURIComponent(cfg.stream)}"]`, { timeout: 10000 });
    const has = async (kind, name) =>
      name ? (await page.locator(`a[href="#/${kind}/${encodeURIComponent(name)}"]`).count()) === 1 : null;
    result.overview = {
      stream: await has('streams', cfg.stream),
      delivery: await has('delivery', cfg.delivery),
      application: await has('applications', cfg.application),
      video: await has('video', cfg.video),
    };
    // Rates show once two scrapes are in.
    await page.waitForFunction(() => document.body.innerText.includes('records/s'), null, { timeout: 10000 });
    await page.keyboard.press('Tab');
    result.firstTabStop = await page.evaluate(() => document.activeElement?.textContent);
    await shot(page, 'overview');
  });

  await step('stream', async () => {
    await page.click(`a[href="#/streams/${encodeURIComponent(cfg.stream)}"]`);
    await page.waitForSelector('svg.shards g.shard');
    await page.waitForSelector('.tail .live');
    result.shardsBefore = await page.locator('svg.shards g.shard').count();
    const marker = `{"console":"${Date.now()}","n":1}`;
    await page.getByLabel('Data').fill(marker);
    // How long after its acknowledgement the record shows in the tail (0 if it showed first).
    await page.getByRole('button', { name: 'Put record' }).click();
    await page.locator('p.ok').waitFor();
    const acked = Date.now();
    await page.locator('li.record pre.data', { hasText: marker }).waitFor({ timeout: 5000 });
    result.tailMs = Date.now() - acked;
    await page.getByLabel('Show as').selectOption('json');
    result.prettyJson = await page.locator('li.record pre.data').first().innerText();
    await page.getByLabel('Show as').selectOption('hex');
    result.hex = await page.locator('li.record pre.data').first().innerText();
    await page.getByLabel('Show as').selectOption('utf8');
    // From the trim horizon of the shard the record went to: that shard's records only.
    const putShard = await page.locator('p.ok .mono').first().innerText();
    await page.locator('select[name=position]').selectOption('TRIM_HORIZON');
    await page.locator('select[name=shard]').selectOption(putShard);
    await page.getByRole('button', { name: 'Restart' }).click();
    await page.locator('li.record pre.data', { hasText: marker }).waitFor({ timeout: 5000 });
    result.tailShards = {
      put: putShard,
      shown: await page.$$eval('li.record .meta .mono:not(.seq)', (els) => [...new Set(els.map((e) => e.textContent))]),
    };
    await page.waitForSelector('figure.chart canvas');
    result.charts = await page.locator('figure.chart canvas').count();
    result.unlabelled = await unlabelled(page);
    await shot(page, 'stream');
  });

  if (cfg.split) {
    await step('split', async () => {
      const [first] = (await api(page, 'kinesis', 'ListShards', { StreamName: cfg.stream })).Shards;
      const middle = (BigInt(first.HashKeyRange.StartingHashKey) + BigInt(first.HashKeyRange.EndingHashKey)) / 2n;
      await api(page, 'kinesis', 'SplitShard', {
        StreamName: cfg.stream,
        ShardToSplit: first.ShardId,
        NewStartingHashKey: middle.toString(),
      });
      await page.waitForFunction((n) => document.querySelectorAll('svg.shards g.shard').length === n,
        result.shardsBefore + 2, { timeout: 10000 });
      result.split = {
        shards: await page.locator('svg.shards g.shard').count(),
        closed: await page.locator('svg.shards g.shard.closed').count(),
        lineage: await page.locator('svg.shards line.lineage').count(),
      };
      await shot(page, 'stream-split');
    });
  }

  if (cfg.delivery) {
    await step('delivery', async () => {
      await page.goto(`${cfg.url}/console/#/delivery/${encodeURIComponent(cfg.delivery)}`);
      await page.locator('table.deliveries td', { hasText: 's3://' }).first().waitFor({ timeout: 15000 });
      result.deliveryTargets = await page.locator('table.deliveries td.mono').allInnerTexts();
      result.deliveryConfig = await page.locator('pre.config').innerText();
      await shot(page, 'delivery');
    });
  }

  if (cfg.application) {
    await step('application', async () => {
      await page.goto(`${cfg.url}/console/#/applications/${encodeURIComponent(cfg.application)}`);
      await page.waitForSelector('pre.sql');
      result.sql = await page.locator('pre.sql').innerText();
      await page.waitForSelector('.tail .live');
      await api(page, 'kinesis', 'PutRecord', {
        StreamName: cfg.applicationInput,
        PartitionKey: 'console',
        Data: btoa(cfg.applicationRow),
      });
      await page.locator('li.record pre.data').first().waitFor({ timeout: 15000 });
      result.outputRow = await page.locator('li.record pre.data').first().innerText();
      result.applicationStatus = await page.locator('.status-text').first().innerText();
      await shot(page, 'application');
    });
  }

  if (cfg.video) {
    await step('video', async () => {
      await page.goto(`${cfg.url}/console/#/video/${encodeURIComponent(cfg.video)}`);
      await page.waitForSelector('svg.timeline rect.fragment', { timeout: 15000 });
      result.fragments = await page.locator('svg.timeline rect.fragment').count();
      result.gaps = await page.locator('svg.timeline rect.gap').count();
      await page.getByLabel('Mode').selectOption('ON_DEMAND');
      const samples = [];
      for (let i = 0; i < 10; i++) {
        await page.waitForTimeout(500);
        samples.push(await page.evaluate(() => document.getElementById('player').currentTime));
      }
      result.playback = { samples, ...(await page.evaluate(() => window.consolePlayback)) };
      await page.waitForSelector('.images img', { timeout: 15000 });
      result.images = await page.locator('.images img').count();
      result.imageSizes = await page.$$eval('.images img', (imgs) => imgs.map((i) => i.naturalWidth));
      await shot(page, 'video');
    });
  }

  await step('phone', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    watch(p);
    if (cfg.keys) {
      await p.goto(`${cfg.url}/console/`);
      await p.evaluate((k) => sessionStorage.setItem('freshet.console.keys', JSON.stringify(k)), cfg.keys);
    }
    result.phone = {};
    for (const [name, hash] of [['overview', ''], ['stream', `#/streams/${encodeURIComponent(cfg.stream)}`]]) {
      await p.goto(`${cfg.url}/console/${hash}`);
      await p.waitForSelector('h1');
      await p.waitForTimeout(1500);
      result.phone[name] = await p.evaluate(() => document.documentElement.scrollWidth);
      await shot(p, `${name}-phone`);
    }
    await phone.close();
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
