// faceid's web page: plain JavaScript against the /api/v1 API, no build step, no CDN.
// Without a token the page works on loopback; beyond it the token is kept in a SameSite=Strict
// cookie, which the API accepts like an Authorization header (and the live view's <img> sends).
//
// The page is updated in place, by key (camera name, person, group id, event id): an element is
// made once and only its text and pictures change after that, so a field being typed in is never
// rebuilt, emptied or unfocused by a refresh or a new event.
'use strict';
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const plural = (n, one, many = one + 's') => `${n} ${n === 1 ? one : many}`;
const setText = (e, text) => { if (e.textContent !== text) e.textContent = text; };

function say(text) { $('status').textContent = text; }

// ---- times: in the browser's own zone, with how long ago
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function ago(date) {
  const s = (date.getTime() - Date.now()) / 1000;
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]])
    if (Math.abs(s) >= size) return rtf.format(Math.round(s / size), unit);
  return rtf.format(Math.round(s), 'second');
}
// <time> with the local time and how long ago; its text is refreshed every 30 s
function timeEl(iso) {
  const t = el('time', { dateTime: iso, title: new Date(iso).toString() });
  updateTime(t);
  return t;
}
function updateTime(t) {
  const d = new Date(t.dateTime);
  const today = d.toDateString() === new Date().toDateString();
  const when = today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  setText(t, `${when} (${ago(d)})`);
}
setInterval(() => document.querySelectorAll('time').forEach(updateTime), 30000);

// Keeps `container`'s children in step with `items`: an item's element is made once (make) and
// updated after (update); elements of items that are gone are removed, unless `keep` says the
// user is using them (focus or typed text). Elements already in order are never moved (moving
// one would take the focus from a field in it).
function reconcile(container, items, keyOf, make, update, keep = () => false) {
  const keys = new Set(items.map((item) => String(keyOf(item))));
  for (const e of [...container.children]) if (!keys.has(e.dataset.key) && !keep(e)) e.remove();
  const have = new Map([...container.children].map((c) => [c.dataset.key, c]));
  items.forEach((item, i) => {
    const key = String(keyOf(item));
    let e = have.get(key);
    if (!e) { e = make(item); e.dataset.key = key; }
    update(e, item);
    const at = container.children[i];
    if (at !== e) container.insertBefore(e, at || null);
  });
}
const inUse = (e) => e.contains(document.activeElement) ||
  [...e.querySelectorAll('input')].some((i) => i.type !== 'checkbox' && i.value);

// Every change the page asks for carries the session's CSRF token (GET /api/v1/session): the
// server refuses a browser's state change without it, so another site cannot make this browser
// enroll, rename or delete. A 403 after a restart of the server fetches a fresh one once.
let csrf = null;
async function session() {
  const r = await fetch('/api/v1/session', { credentials: 'same-origin' });
  if (r.status === 401) { $('login').hidden = false; throw new Error('a token is needed'); }
  csrf = (await r.json()).csrf;
}

async function api(path, options = {}, retried = false) {
  const method = (options.method || 'GET').toUpperCase();
  if (method !== 'GET' && !csrf) await session();
  const headers = Object.assign({}, options.headers || {}, method !== 'GET' ? { 'X-CSRF-Token': csrf } : {});
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, options, { headers }));
  if (r.status === 403 && method !== 'GET' && !retried) { csrf = null; return api(path, options, true); }
  if (r.status === 401) { $('login').hidden = false; throw new Error('a token is needed'); }
  if (r.status === 204) return null;
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || r.statusText); e.body = body; e.status = r.status; throw e; }
  return body;
}
const json = (method, body) => ({ method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const person = (name) => `/api/v1/people/${encodeURIComponent(name)}`;

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `faceid_token=${encodeURIComponent($('token').value)}; path=/; SameSite=Strict${secure}`;
  $('login').hidden = true;
  start();
});

// ---- cameras: the live view of each, boxes and names drawn by the server. The caption names
// who the server drew on the view in the last seconds (the same data as the picture).
async function cameras() {
  const { cameras } = await api('/api/v1/cameras');
  const names = cameras.map((c) => c.name).join('\n');
  for (const select of [$('enroll-camera'), $('events-camera')]) {
    if (select.dataset.names === names) continue; /* only when the cameras change */
    const keep = select.value, first = select.options[0];
    const label = select.id === 'enroll-camera' ? (c) => `from ${c.name}` : (c) => c.name;
    select.replaceChildren(first, ...cameras.map((c) => el('option', { value: c.name, textContent: label(c) })));
    select.value = keep;
    select.dataset.names = names;
  }
  reconcile($('cameras'), cameras, (c) => c.name, (c) => {
    const box = el('figure', { className: 'camera' },
      el('img', { alt: `camera ${c.name}`, src: `/api/v1/cameras/${encodeURIComponent(c.name)}/stream.mjpeg` }),
      el('figcaption', { className: 'info' }));
    box.dataset.camera = c.name;
    box.onclick = () => box.classList.toggle('wide');
    return box;
  }, (box, c) => {
    if (c.state === 'running' && box.dataset.state === 'failed') // back after a failure: a new stream
      box.querySelector('img').src = `/api/v1/cameras/${encodeURIComponent(c.name)}/stream.mjpeg?t=${Date.now()}`;
    box.dataset.state = c.state;
    const seen = (c.recent || []).map((r) => (r.name === '?' ? 'an unknown person' : r.name));
    const who = seen.length ? `now: ${[...new Set(seen)].join(', ')}` : 'nobody in view';
    const state = c.state === 'running' ? `${(c.fps || 0).toFixed(1)} frames/s` : c.state;
    setText(box.querySelector('figcaption'), `${c.name} · ${state} · ${who}` +
      (c.dropped ? ` · ${plural(c.dropped, 'frame')} skipped` : '') + (c.error ? ` · ${c.error}` : ''));
  });
}

// ---- people: found by name, a page at a time, each with their picture and samples
let peopleShown = 50;
async function people() {
  const q = $('people-filter').value.trim();
  const r = await api(`/api/v1/people?limit=${peopleShown}&q=${encodeURIComponent(q)}`);
  setText($('people-count'), q ? `${plural(r.total, 'person', 'people')} match` : plural(r.total, 'person', 'people'));
  $('people-more').hidden = r.people.length >= r.total;
  reconcile($('people'), r.people, (p) => p.name, makePerson, updatePerson, inUse);
}
$('people-filter').addEventListener('input', () => { peopleShown = 50; people().catch((e) => say(e.message)); });
$('people-more').onclick = () => { peopleShown += 50; people().catch((e) => say(e.message)); };

function makePerson(p) {
  const li = el('li');
  li.dataset.person = p.name;
  const samples = el('div', { className: 'samples', hidden: true });
  const toggle = el('button', { className: 'show-samples', textContent: 'Samples' });
  toggle.onclick = async () => {
    samples.hidden = !samples.hidden;
    if (!samples.hidden) await showSamples(li.dataset.person, samples).catch((e) => say(e.message));
  };
  const rename = el('button', { textContent: 'Rename' });
  rename.onclick = async () => {
    const to = prompt(`New name for ${li.dataset.person}`, li.dataset.person);
    if (!to || to === li.dataset.person) return;
    try { await api(person(li.dataset.person), json('PATCH', { name: to })); li.remove(); } catch (e) { say(e.message); }
    people();
  };
  const merge = el('button', { textContent: 'Merge into…' });
  merge.onclick = async () => {
    const into = prompt(`Merge ${li.dataset.person} into whom? Every sample of ${li.dataset.person} goes to them.`);
    if (!into) return;
    try { await api(`${person(li.dataset.person)}/merge`, json('POST', { name: into })); li.remove(); } catch (e) { say(e.message); }
    people();
  };
  const remove = el('button', { textContent: 'Delete' });
  remove.onclick = async () => {
    if (!confirm(`Delete ${li.dataset.person}, every sample of them and everything the cameras recorded of them?`)) return;
    try { await api(person(li.dataset.person), { method: 'DELETE' }); li.remove(); } catch (e) { say(e.message); }
    people();
  };
  li.append(el('div', { className: 'person-row' }, el('span', { className: 'face-thumb' }), el('strong'),
    el('span', { className: 'count' }), toggle, rename, merge, remove), samples);
  return li;
}

function updatePerson(li, p) {
  const row = li.firstChild;
  const thumb = row.firstChild;
  if (p.face && thumb.getAttribute('src') !== p.face)
    row.replaceChild(el('img', { src: p.face, alt: `${p.name}`, className: 'face-thumb' }), thumb);
  setText(row.querySelector('strong'), p.name);
  setText(row.querySelector('.count'), plural(p.samples, 'sample'));
}

async function showSamples(name, box) {
  const { samples } = await api(`${person(name)}/samples`);
  reconcile(box, samples, (s) => s.id, (s) => {
    const del = el('button', { textContent: 'Delete' });
    del.onclick = async () => {
      if (!confirm(`Delete this sample of ${name}?`)) return;
      try { await api(`${person(name)}/samples/${s.id}`, { method: 'DELETE' }); } catch (e) { say(e.message); }
      showSamples(name, box); people();
    };
    const move = el('button', { textContent: 'Move…' });
    move.onclick = async () => {
      const to = prompt(`Whose face is this? (it moves from ${name} to them)`);
      if (!to) return;
      try { await api(`${person(name)}/samples/${s.id}/move`, json('POST', { name: to })); } catch (e) { say(e.message); }
      showSamples(name, box); people();
    };
    const pic = s.crop ? el('img', { src: s.crop, alt: `sample ${s.id}` }) : el('img', { className: 'none', alt: 'no picture kept' });
    const quality = s.quality === null ? '' : ` · quality ${s.quality.toFixed(2)}`;
    return el('div', { className: 'sample', title: s.source || '' }, pic,
      el('div', {}, timeEl(s.time)), el('div', { textContent: `${(s.source || 'unknown source').split('/').pop()}${quality}` }), del, move);
  }, () => {});
  if (!samples.length) box.replaceChildren(el('span', { className: 'note', textContent: 'No samples.' }));
}

function verdicts(files) {
  return (files || []).map((f) => `${f.file}: ${f.verdict}` + (f.gate && f.limit ? ` (${f.gate} ${f.value} < ${f.limit})` : '')).join('; ');
}

$('enroll').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('enroll-name').value.trim();
  const form = new FormData();
  form.append('name', name);
  if ($('enroll-force').checked) form.append('force', '1');
  for (const f of $('enroll-files').files) form.append('files', f, f.name);
  const cam = $('enroll-camera').value;
  if (cam) {
    const r = await fetch(`/api/v1/cameras/${encodeURIComponent(cam)}/snapshot.jpg?raw=1`, { credentials: 'same-origin' });
    if (r.ok) form.append('files', await r.blob(), `${cam}.jpg`);
  }
  let exists = false;
  try { exists = (await api(`/api/v1/people?q=${encodeURIComponent(name)}`)).people.some((p) => p.name === name); } catch (e) { /* enroll says */ }
  try {
    const url = exists ? `${person(name)}/photos` : '/api/v1/people';
    const r = await api(url, { method: 'POST', body: form });
    $('enroll-result').textContent = `${r.name}: ${plural(r.added, 'face')} added, ${plural(r.samples, 'sample')} now. ${verdicts(r.files)}`;
    $('enroll').reset();
  } catch (e) {
    $('enroll-result').textContent = `${e.message}. ${verdicts(e.body && e.body.files)}`;
  }
  people();
});

// ---- who is this?
async function unknown() {
  const { groups } = await api('/api/v1/unknown');
  reconcile($('unknown'), groups, (g) => g.id, makeGroup, updateGroup, inUse);
}

function makeGroup(g) {
  const input = el('input', { placeholder: 'Name this person', maxLength: 200 });
  const name = el('button', { textContent: 'Name' });
  const div = el('div', { className: 'group' }, el('div', { className: 'seen' }), el('div', { className: 'faces' }), input, name);
  div.dataset.group = g.id;
  name.onclick = async () => {
    const who = input.value.trim();
    if (!who) return;
    const send = (force) => api(`/api/v1/unknown/${g.id}/name`, json('POST', { name: who, force }));
    const done = (r) => { say(`${r.name}: ${plural(r.added, 'face')} added`); div.remove(); };
    try { done(await send(false)); } catch (e) {
      // the name is taken by someone these faces do not look like: say how far, let the user insist
      if (e.status === 409 && e.body && e.body.median !== undefined &&
          confirm(`These faces do not look like ${who} (${e.body.median.toFixed(2)} apart; the same person is under ${e.body.threshold.toFixed(2)}). Add them anyway?`)) {
        try { done(await send(true)); } catch (e2) { say(e2.message); }
      } else say(e.message);
    }
    unknown(); people();
  };
  const dismiss = el('button', { textContent: 'Not a person to name' });
  dismiss.onclick = async () => { await api(`/api/v1/unknown/${g.id}`, { method: 'DELETE' }).catch((e) => say(e.message)); div.remove(); };
  div.append(dismiss);
  return div;
}

function updateGroup(div, g) {
  // how surely the group is one person: the largest distance between two of its faces
  const c = g.consistency;
  const sure = !c || g.faces.length < 2 ? '' : c.max_distance < c.threshold ? ' · looks like one person' : ' · check: may be more than one person';
  const seen = div.querySelector('.seen');
  const last = seen.querySelector('time');
  if (!last || last.dateTime !== g.last_seen) {
    seen.replaceChildren(`Seen ${g.sightings === 1 ? 'once' : `${g.sightings} times`}, last `, timeEl(g.last_seen), sure);
  }
  reconcile(div.querySelector('.faces'), g.faces, (f) => f.id, (f) => el('div', { className: 'face' + (f.passes ? '' : ' fails') },
    el('img', { src: f.crop, alt: `face ${f.id}` }),
    el('div', { textContent: f.passes ? `✓ ${f.size}px, sharp ${Math.round(f.sharpness)}` : `✗ ${f.gate}, ${f.size}px` })), () => {});
}

// ---- events: from the history, filtered and paged back; new ones live through Server-Sent Events
function eventFilter() {
  return { camera: $('events-camera').value, name: $('events-name').value.trim(), known: $('events-known').checked };
}
function matches(e, f) {
  return e.event !== 'appeared' && (!f.camera || e.source === f.camera) && (!f.name || e.name === f.name) && (!f.known || e.name !== '?');
}
function eventItem(e) {
  const stranger = e.name === '?';
  const who = stranger ? el('span', { className: 'stranger', textContent: 'Unknown person' }) : el('strong', { textContent: e.name });
  const what = e.event === 'left' ? `left ${e.source}` : e.event === 'changed' && !stranger ? `recognised at ${e.source}` : `seen at ${e.source}`;
  const li = el('li', {}, e.crop ? el('img', { src: e.crop, alt: '' }) : el('span'), who, el('span', { textContent: what }),
    timeEl(e.time));
  li.dataset.event = e.id;
  if (!stranger && e.crop && e.event !== 'left') {
    const not = el('button', { className: 'reject', textContent: `Not ${e.name}` });
    not.onclick = async () => {
      try {
        await api(`/api/v1/events/${e.id}/reject`, { method: 'POST' });
        who.classList.add('rejected');
        not.replaceWith(el('span', { className: 'note', textContent: `noted: this face is not ${e.name}` }));
      } catch (err) { say(err.message); }
    };
    if (e.rejected) who.classList.add('rejected'); else li.append(not);
  }
  return li;
}
let oldest = 0;
async function events(more = false) {
  const f = eventFilter();
  const q = new URLSearchParams({ limit: 30 });
  if (f.camera) q.set('camera', f.camera);
  if (f.name) q.set('name', f.name);
  if (more && oldest) q.set('before', oldest);
  const r = await api(`/api/v1/events?${q}`);
  const items = r.events.reverse().filter((e) => matches(e, f)).map(eventItem); // newest first
  if (more) $('events').append(...items); else $('events').replaceChildren(...items);
  if (r.events.length) oldest = r.events[r.events.length - 1].id;
  $('events-older').hidden = !r.truncated;
}
for (const id of ['events-camera', 'events-known']) $(id).addEventListener('change', () => events().catch((e) => say(e.message)));
$('events-name').addEventListener('change', () => events().catch((e) => say(e.message)));
$('events-older').onclick = () => events(true).catch((e) => say(e.message));

function live() {
  const source = new EventSource('/api/v1/events/stream');
  let unknownSoon = null;
  source.addEventListener('face', (m) => {
    const e = JSON.parse(m.data);
    if (!matches(e, eventFilter())) return;
    $('events').prepend(eventItem(e));
    while ($('events').children.length > 200) $('events').lastChild.remove();
    // a new stranger: "who is this?" looks again once (not once per event)
    if (e.name === '?' && !unknownSoon) unknownSoon = setTimeout(() => { unknownSoon = null; unknown().catch(() => {}); }, 1500);
  });
}

async function start() {
  try {
    await Promise.all([cameras(), people(), unknown(), events()]);
    live();
    say('');
    setInterval(() => cameras().catch((e) => say(e.message)), 2000);
    setInterval(() => { unknown().catch(() => {}); people().catch(() => {}); }, 5000);
  } catch (e) { say(e.message); }
}
start();
