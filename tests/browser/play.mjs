// Opens a Freshet /video page in headless Chromium and reports, as one JSON line, how playback
// went: the player engine, currentTime samples, hls.js errors and page errors.
// Usage: node play.mjs <page-url> <seconds>
import { chromium } from 'playwright-core';

const [url, seconds = '6'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu'],
});
const result = { samples: [], pageErrors: [] };
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => result.pageErrors.push(String(e)));
  const response = await page.goto(url);
  result.status = response.status();
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    await page.waitForTimeout(500);
    result.samples.push(await page.evaluate(() => document.getElementById('video')?.currentTime ?? -1));
  }
  result.playback = await page.evaluate(() => window.playback ?? null);
  result.size = await page.evaluate(() => {
    const v = document.getElementById('video');
    return v ? [v.videoWidth, v.videoHeight] : null;
  });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
