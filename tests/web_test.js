// faceid serve's web page in headless Chromium (Debian's, driven by puppeteer-core): sign in with
// the token, a live frame appears, a stranger shows under "who is this?", an enrollment from an
// upload shows up in the gallery and then as a name on the camera, screenshots taken.
//   node web_test.js BASE_URL TOKEN PHOTO OUT_DIR [chrome|firefox]
'use strict';
const puppeteer = require('puppeteer-core');
const fs = require('fs');
const path = require('path');

const [base, token, photo, out, which = 'chrome'] = process.argv.slice(2);
let passed = 0, failed = 0;
async function check(what, fn) {
  try { await fn(); passed++; } catch (e) { failed++; console.error(`FAIL: ${what}: ${e.message.split('\n')[0]}`); }
}

(async () => {
  const profile = fs.mkdtempSync(path.join(out, 'chromium-'));
  const browser = which === 'firefox'
    ? await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, userDataDir: profile })
    : await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      userDataDir: profile,
      // the closed network refuses Chromium's background connections: keep them off
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/401|Unauthorized/.test(m.text())) errors.push(m.text()); });
  await page.goto(base, { waitUntil: 'domcontentloaded' });

  await check('without the token the page asks for it', async () => {
    await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  });
  await check('signing in loads the cameras', async () => {
    await page.type('#token', token);
    await page.click('#login button');
    await page.waitForSelector('figure.camera[data-camera="door"] img', { timeout: 10000 });
  });
  await check('a live frame appears (not blank)', async () => {
    await page.waitForFunction(() => {
      const img = document.querySelector('figure.camera img');
      if (!img || !img.naturalWidth) return false;
      const c = document.createElement('canvas');
      c.width = 64; c.height = 36;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0, 64, 36);
      const d = g.getImageData(0, 0, 64, 36).data;
      let sum = 0, sq = 0;
      for (let i = 0; i < d.length; i += 4) { sum += d[i + 1]; sq += d[i + 1] * d[i + 1]; }
      const n = d.length / 4, sd = Math.sqrt(sq / n - (sum / n) ** 2);
      return sd > 10;
    }, { timeout: 20000, polling: 250 });
    await page.screenshot({ path: path.join(out, 'live.png') });
  });
  await check('the camera status shows frames per second', async () => {
    await page.waitForFunction(() => /door · running · [1-9]/.test(document.querySelector('figure.camera figcaption').textContent), { timeout: 10000 });
  });
  await check('the stranger shows under "who is this?" with size and sharpness', async () => {
    await page.waitForFunction(() => /px · sharp \d+/.test(document.querySelector('#unknown').textContent), { timeout: 30000, polling: 500 });
    await page.screenshot({ path: path.join(out, 'unknown.png'), fullPage: true });
  });
  await check('an enrollment from an upload shows in the gallery', async () => {
    await page.type('#enroll-name', 'dana');
    const input = await page.$('#enroll-files');
    await input.uploadFile(photo);
    await page.click('#enroll button');
    await page.waitForSelector('#people li[data-person="dana"]', { timeout: 15000 });
    const text = await page.$eval('#enroll-result', (e) => e.textContent);
    if (!/dana: 1 added/.test(text)) throw new Error(`result says: ${text}`);
  });
  await check('... and then as a name on the video', async () => {
    await page.waitForFunction(() => /dana/.test(document.querySelector('figure.camera figcaption').textContent), { timeout: 30000, polling: 200 });
    await page.screenshot({ path: path.join(out, 'named.png') });
  });
  await check('... and her group leaves "who is this?"', async () => {
    await page.waitForFunction(() => !document.querySelector('#unknown .group'), { timeout: 20000, polling: 500 });
  });
  await check('... and the gallery shows her face from the camera', async () => {
    await page.waitForSelector('#people li[data-person="dana"] img.face-thumb', { timeout: 20000 });
  });
  await check('... and in the recent events, live through SSE', async () => {
    await page.waitForFunction(() => [...document.querySelectorAll('#events li strong')].some((e) => e.textContent === 'dana'), { timeout: 30000 });
  });
  await check('no script errors', async () => { if (errors.length) throw new Error(errors.join(' | ')); });
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`${which}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(`FAIL: ${e.stack}`); process.exit(1); });
