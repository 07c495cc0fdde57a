// faceid serve's web page in headless Chromium and Firefox (Debian's, driven by puppeteer-core):
// sign in with the token, a live frame appears, a stranger shows under "who is this?", a name
// typed there at human speed survives the page's refreshes and the events arriving meanwhile,
// times are the browser's own (run in New York time), an enrollment from an upload shows up in
// the gallery and then as a name on the camera, her samples are shown, "not this person" on an
// event is noted; screenshots taken.
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
  // a browser far from UTC: the page must show its own local times, not the server's UTC
  const env = Object.assign({}, process.env, { TZ: 'America/New_York' });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const browser = which === 'firefox'
    ? await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, userDataDir: profile, env })
    : await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      userDataDir: profile,
      env,
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
    await page.waitForFunction(() => /door · [1-9][0-9.]* frames\/s/.test(document.querySelector('figure.camera figcaption').textContent), { timeout: 10000 });
  });
  await check('the stranger shows under "who is this?" with the size of each face', async () => {
    await page.waitForFunction(() => /\d+px/.test(document.querySelector('#unknown').textContent), { timeout: 30000, polling: 500 });
    await page.screenshot({ path: path.join(out, 'unknown.png'), fullPage: true });
  });
  await check('typing a name at human speed while events arrive: the field keeps its text and focus', async () => {
    const name = 'Bartholomew Quince';
    const before = await page.$eval('#events', (e) => e.children.length);
    await page.click('#unknown .group input');
    for (const ch of name) { await page.keyboard.type(ch); await sleep(100 + Math.random() * 100); }
    await sleep(6000); // past the page's 5 s refresh of "who is this?" and the people
    const state = await page.evaluate(() => {
      const i = document.querySelector('#unknown .group input');
      return { value: i && i.value, focused: !!i && document.activeElement === i, events: document.querySelector('#events').children.length };
    });
    if (state.value !== name || !state.focused) throw new Error(`field now '${state.value}', focused ${state.focused}`);
    if (state.events <= before) throw new Error(`no event arrived while typing (${before} -> ${state.events}): the check proved nothing`);
    await page.evaluate(() => { const i = document.querySelector('#unknown .group input'); i.value = ''; i.blur(); });
  });
  await check("event times are the browser's local time (New York), with how long ago", async () => {
    const t = await page.$eval('#events li time', (e) => ({ iso: e.dateTime, text: e.textContent }));
    const want = new Date(t.iso).toLocaleTimeString('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit' });
    if (!t.text.startsWith(want) || !/ago|now/.test(t.text)) throw new Error(`'${t.text}' for ${t.iso}, want ${want} (... ago)`);
  });
  await check('plain wording: no "stranger identified", no "1 faces"', async () => {
    const text = await page.evaluate(() => document.body.innerText);
    if (/stranger identified|\b1 (faces|samples|people)\b|identified on/.test(text)) throw new Error(text.match(/stranger identified|\b1 (faces|samples|people)\b|identified on/)[0]);
  });
  await check('an enrollment from an upload shows in the gallery', async () => {
    await page.type('#enroll-name', 'dana');
    const input = await page.$('#enroll-files');
    await input.uploadFile(photo);
    await page.click('#enroll button');
    await page.waitForSelector('#people li[data-person="dana"]', { timeout: 15000 });
    const text = await page.$eval('#enroll-result', (e) => e.textContent);
    if (!/dana: 1 face added, 1 sample now/.test(text)) throw new Error(`result says: ${text}`);
  });
  await check('... and then as a name on the video', async () => {
    await page.waitForFunction(() => /dana/.test(document.querySelector('figure.camera figcaption').textContent), { timeout: 30000, polling: 200 });
    await page.screenshot({ path: path.join(out, 'named.png') });
  });
  await check('... and her group leaves "who is this?"', async () => {
    await page.waitForFunction(() => !document.querySelector('#unknown .group'), { timeout: 20000, polling: 500 });
  });
  await check('... and the gallery shows her picture (her sample)', async () => {
    await page.waitForSelector('#people li[data-person="dana"] img.face-thumb[src*="/samples/"]', { timeout: 20000 });
  });
  await check('... and in the recent events, live through SSE', async () => {
    await page.waitForFunction(() => [...document.querySelectorAll('#events li strong')].some((e) => e.textContent === 'dana'), { timeout: 30000 });
  });
  await check('review: her samples with their pictures, time and source', async () => {
    await page.click('#people li[data-person="dana"] button.show-samples');
    await page.waitForFunction(() => {
      const s = document.querySelector('#people li[data-person="dana"] .sample');
      return s && s.querySelector('img').naturalWidth > 0 && /dana\.jpg/.test(s.textContent) && s.querySelector('time');
    }, { timeout: 15000 });
    await page.screenshot({ path: path.join(out, 'review.png'), fullPage: true });
  });
  await check('the people filter finds her and hides the others', async () => {
    await page.type('#people-filter', 'DAN');
    await page.waitForFunction(() => /1 person match/.test(document.querySelector('#people-count').textContent), { timeout: 10000 });
    await page.evaluate(() => { const f = document.querySelector('#people-filter'); f.value = ''; f.dispatchEvent(new Event('input')); });
  });
  await check('"not dana" on her event is noted', async () => {
    const button = await page.waitForSelector('#events li button.reject', { timeout: 15000 });
    await button.click();
    await page.waitForFunction(() => /noted: this face is not dana/.test(document.querySelector('#events').textContent), { timeout: 15000 });
  });
  await check('no script errors', async () => { if (errors.length) throw new Error(errors.join(' | ')); });
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`${which}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(`FAIL: ${e.stack}`); process.exit(1); });
