// faceid's web page: plain JavaScript against the /api/v1 API, no build step, no CDN.
// Without a token the page works on loopback; beyond it the token is kept in a SameSite=Strict
// cookie, which the API accepts like an Authorization header (and the live view's <img> sends).
'use strict';
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};

function say(text) { $('status').textContent = text; }

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

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `faceid_token=${encodeURIComponent($('token').value)}; path=/; SameSite=Strict${secure}`;
  $('login').hidden = true;
  start();
});

// ---- cameras: the live view of each, boxes and names drawn by the server
const shown = new Map();
async function cameras() {
  const { cameras } = await api('/api/v1/cameras');
  const select = $('enroll-camera');
  const keep = select.value;
  select.replaceChildren(el('option', { value: '', textContent: 'or from a camera…' }),
    ...cameras.map((c) => el('option', { value: c.name, textContent: `from ${c.name}` })));
  select.value = keep;
  for (const c of cameras) {
    let box = shown.get(c.name);
    if (!box) {
      box = el('figure', { className: 'camera' });
      box.dataset.camera = c.name;
      box.append(el('img', { alt: `camera ${c.name}`, src: `/api/v1/cameras/${encodeURIComponent(c.name)}/stream.mjpeg` }),
        el('figcaption', { className: 'info' }));
      $('cameras').append(box);
      shown.set(c.name, box);
    }
    if (c.state === 'running' && box.dataset.state === 'failed') {
      // back after a failure: the server ended the old stream, open a new one
      box.querySelector('img').src = `/api/v1/cameras/${encodeURIComponent(c.name)}/stream.mjpeg?t=${Date.now()}`;
    }
    box.dataset.state = c.state;
    const names = c.tracks.map((t) => t.name).join(', ') || 'nobody';
    box.querySelector('figcaption').textContent =
      `${c.name} · ${c.state} · ${(c.fps || 0).toFixed(1)} fps · ${c.dropped} dropped · ${names}` + (c.error ? ` · ${c.error}` : '');
  }
  for (const [name, box] of shown) if (!cameras.some((c) => c.name === name)) { box.remove(); shown.delete(name); }
}

// ---- the gallery
async function people() {
  const { people } = await api('/api/v1/people');
  $('people').replaceChildren(...people.map((p) => {
    const rename = el('button', { textContent: 'Rename' });
    rename.onclick = async () => {
      const to = prompt(`New name for ${p.name}`, p.name);
      if (!to || to === p.name) return;
      try { await api(`/api/v1/people/${encodeURIComponent(p.name)}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: to }) }); }
      catch (e) { say(e.message); }
      people();
    };
    const remove = el('button', { textContent: 'Delete' });
    remove.onclick = async () => {
      if (!confirm(`Delete ${p.name} and every sample and crop of them?`)) return;
      try { await api(`/api/v1/people/${encodeURIComponent(p.name)}`, { method: 'DELETE' }); } catch (e) { say(e.message); }
      people();
    };
    const face = p.face ? el('img', { src: p.face, alt: '', className: 'face-thumb' }) : el('span', { className: 'face-thumb' });
    const li = el('li', {}, face, el('strong', { textContent: p.name }), el('span', { textContent: `${p.samples} samples` }), rename, remove);
    li.dataset.person = p.name;
    return li;
  }));
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
  const exists = [...$('people').children].some((li) => li.dataset.person === name);
  try {
    const url = exists ? `/api/v1/people/${encodeURIComponent(name)}/photos` : '/api/v1/people';
    const r = await api(url, { method: 'POST', body: form });
    $('enroll-result').textContent = `${r.name}: ${r.added} added, ${r.samples} samples. ${verdicts(r.files)}`;
    $('enroll').reset();
  } catch (e) {
    $('enroll-result').textContent = `${e.message}. ${verdicts(e.body && e.body.files)}`;
  }
  people();
});

// ---- who is this?
async function unknown() {
  const { groups } = await api('/api/v1/unknown');
  $('unknown').replaceChildren(...groups.map((g) => {
    const input = el('input', { placeholder: 'Name this person', maxLength: 200 });
    const name = el('button', { textContent: 'Name' });
    name.onclick = async () => {
      const send = (force) => api(`/api/v1/unknown/${g.id}/name`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: input.value.trim(), force }) });
      try {
        const r = await send(false);
        say(`${r.name}: ${r.added} faces enrolled`);
      } catch (e) {
        // the name is taken by someone these faces do not look like: say how far, let the user insist
        if (e.status === 409 && e.body && e.body.median !== undefined &&
            confirm(`These faces are ${e.body.median.toFixed(2)} from ${input.value.trim()} (the same person is under ${e.body.threshold.toFixed(2)}). Add them anyway?`)) {
          try { const r = await send(true); say(`${r.name}: ${r.added} faces enrolled`); } catch (e2) { say(e2.message); }
        } else say(e.message);
      }
      unknown(); people();
    };
    const dismiss = el('button', { textContent: 'Dismiss' });
    dismiss.onclick = async () => { await api(`/api/v1/unknown/${g.id}`, { method: 'DELETE' }).catch((e) => say(e.message)); unknown(); };
    const faces = el('div', { className: 'faces' }, ...g.faces.map((f) => el('div', { className: 'face' + (f.passes ? '' : ' fails') },
      el('img', { src: f.crop, alt: `face ${f.id}` }),
      el('div', { textContent: `${f.passes ? '✓' : '✗ ' + f.gate} ${f.size}px · sharp ${Math.round(f.sharpness)}` }))));
    // how surely the group is one person: the largest distance between two of its faces
    const c = g.consistency;
    const sure = !c || g.faces.length < 2 ? '' : ` · faces within ${c.max_distance.toFixed(2)} of each other${c.max_distance < c.threshold ? '' : ' (check: may be more than one person)'}`;
    const div = el('div', { className: 'group' }, el('div', { textContent: `seen ${g.sightings}× · last ${g.last_seen}${sure}` }), faces, input, name, dismiss);
    div.dataset.group = g.id;
    return div;
  }));
}

// ---- events: the recent ones, then live through Server-Sent Events
function eventItem(e) {
  const who = e.name === '?' ? el('span', { className: 'stranger', textContent: 'stranger' }) : el('strong', { textContent: e.name });
  const li = el('li', {}, e.crop ? el('img', { src: e.crop, alt: '' }) : el('span'), who,
    el('span', { textContent: `${e.event} on ${e.source} at ${e.time.slice(11, 19)}` }));
  li.dataset.event = e.id;
  return li;
}
async function events() {
  const { events } = await api('/api/v1/events?limit=30');
  $('events').replaceChildren(...events.reverse().filter((e) => e.event !== 'appeared').map(eventItem));
  const source = new EventSource('/api/v1/events/stream');
  source.addEventListener('face', (m) => {
    const e = JSON.parse(m.data);
    if (e.event === 'appeared') return;
    $('events').prepend(eventItem(e));
    while ($('events').children.length > 50) $('events').lastChild.remove();
    if (e.name === '?') setTimeout(unknown, 1500);
  });
}

async function start() {
  try {
    await Promise.all([cameras(), people(), unknown(), events()]);
    say('');
    setInterval(() => cameras().catch((e) => say(e.message)), 2000);
    setInterval(() => { unknown().catch(() => {}); people().catch(() => {}); }, 5000);
  } catch (e) { say(e.message); }
}
start();
