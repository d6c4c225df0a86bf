// The longrun console: plain JavaScript over the server's own HTTP API, nothing from other hosts.
// Routes (in the URL's hash): #/?collection=&filter=  the list;  #/operation/NAME  one operation.
// Anything else, and an operation that cannot be read, shows a page saying so (never a blank or an
// earlier operation's page).

const TOKEN_KEY = 'longrun-console-token';
const LIST_REFRESH_MS = 2000;
const WAITING = {
  scheduled: 'Scheduled',
  retry_scheduled: 'Retry scheduled',
  queued: 'Queued',
};
const $ = (id) => document.getElementById(id);

let listTimer;
let detailWatch;
let pageTokens = [''];
let lastStates = new Map();

// ---- talking to the server ------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers ?? {}) } });
  const text = await response.text();
  let body;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = {};
  }
  if (!response.ok) throw new ApiError(response.status, body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

/** Server-Sent Events over fetch (EventSource cannot send a bearer token). Calls onEvent per event; resolves at the end. */
async function watchEvents(name, signal, onEvent) {
  const response = await fetch(`/v1/${name}:watch`, { headers: { ...authHeaders(), accept: 'text/event-stream' }, signal });
  if (!response.ok || response.body === null) throw new ApiError(response.status, `the live stream answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (!block.startsWith(':')) onEvent(event, data.join('\n'));
    }
  }
}

// ---- showing things --------------------------------------------------------------------------

function show(section) {
  for (const id of ['sign-in', 'list', 'detail', 'missing']) $(id).hidden = id !== section;
  if (section !== 'detail') document.title = 'longrun console';
}

function alertMessage(message) {
  $('alert').textContent = message ?? '';
  $('alert').hidden = !message;
}

function time(iso) {
  const element = document.createElement('time');
  if (!iso) return element;
  element.dateTime = iso;
  element.textContent = new Date(iso).toLocaleString();
  return element;
}

/** `7s`, `1m05s`, `2h03m` (as `longrun wait` shows an ETA). */
function formatRemaining(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function untilText(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  return ms > 0 ? `(in ${formatRemaining(ms)})` : '(due now)';
}

/** "(in 1m05s)", counted down every second by the ticker below. */
function until(iso) {
  const span = document.createElement('span');
  span.className = 'until';
  span.dataset.until = iso;
  span.textContent = untilText(iso);
  return span;
}

setInterval(() => {
  for (const element of document.querySelectorAll('[data-until]')) element.textContent = untilText(element.dataset.until);
}, 1000);

/**
 * An operation name that wraps only after a slash. Each segment is kept whole: ids are base64url,
 * and browsers would otherwise break after their hyphens (or anywhere, under overflow-wrap).
 */
function nameNode(name) {
  const wrap = document.createElement('span');
  wrap.className = 'opname';
  const segments = name.split('/');
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const part = document.createElement('span');
    part.className = 'segment';
    part.textContent = last ? segment : `${segment}/`;
    wrap.append(part);
    if (!last) wrap.append(document.createElement('wbr'));
  });
  return wrap;
}

function stateLabel(state) {
  const span = document.createElement('span');
  const kind = state.split(' ')[0];
  span.className = `state state-${kind}`;
  span.textContent = state.charAt(0).toUpperCase() + state.slice(1);
  return span;
}

function progressBar(percent, label) {
  const wrap = document.createElement('span');
  wrap.className = 'progress';
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = percent;
  bar.setAttribute('aria-label', label);
  const text = document.createElement('span');
  text.className = 'percent';
  text.textContent = `${Math.round(percent)}%`;
  wrap.append(bar, text);
  return wrap;
}

function cell(label, className, ...content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  if (className) td.className = className;
  td.append(...content);
  return td;
}

function updateAccount() {
  const signedIn = sessionStorage.getItem(TOKEN_KEY) !== null;
  $('who').hidden = !signedIn;
  $('who').textContent = signedIn ? 'Signed in with a token' : '';
  $('sign-out').hidden = !signedIn;
}

function handleFailure(error) {
  if (error instanceof ApiError && error.status === 401) {
    const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    updateAccount();
    stopAll();
    show('sign-in');
    alertMessage(hadToken ? 'That token was not accepted. Sign in again.' : '');
    $('token').focus();
    return;
  }
  alertMessage(error.message);
}

function stopAll() {
  clearTimeout(listTimer);
  listTimer = undefined;
  detailWatch?.abort();
  detailWatch = undefined;
}

// ---- the list -----------------------------------------------------------------------------------

function listParams() {
  const query = new URLSearchParams(location.hash.replace(/^#\/?\??/, ''));
  return { collection: query.get('collection') || 'operations', filter: query.get('filter') ?? '' };
}

async function loadList(announce) {
  const { collection, filter } = listParams();
  const pageToken = pageTokens.at(-1);
  const query = new URLSearchParams({ collection, filter, pageToken });
  let page;
  try {
    page = await api(`/console/api/operations?${query}`);
  } catch (error) {
    // Rows from before the failure would read as the answer to this filter: nothing is shown instead.
    $('operations').tBodies[0].replaceChildren();
    $('next').disabled = true;
    $('previous').disabled = pageTokens.length <= 1;
    lastStates = new Map();
    if (error instanceof ApiError && error.status === 400) $('filter').setAttribute('aria-invalid', 'true');
    $('list-status').textContent = `Nothing shown: ${error.message}`;
    throw error;
  }
  $('filter').removeAttribute('aria-invalid');
  alertMessage('');
  const rows = page.operations.map((operation) => {
    const tr = document.createElement('tr');
    const link = document.createElement('a');
    link.href = `#/operation/${operation.id}`;
    link.append(nameNode(operation.id));
    const progress = [progressBar(operation.progress, `Progress of ${operation.id}`)];
    if (operation.estimated_completion) {
      const eta = document.createElement('span');
      eta.className = 'eta';
      eta.append('ETA ', time(operation.estimated_completion));
      progress.push(eta);
    }
    tr.append(
      cell('Name', 'name', link),
      cell('State', '', stateLabel(operation.state)),
      cell('Method', 'method', operation.method.replace(/^\//, '')),
      cell('Progress', '', ...progress),
      cell('Created', '', time(operation.created_at)),
      cell('Updated', '', time(operation.updated_at)),
    );
    return tr;
  });
  $('operations').tBodies[0].replaceChildren(...rows);
  $('next').disabled = page.nextPageToken === '';
  $('next').dataset.token = page.nextPageToken;
  $('previous').disabled = pageTokens.length <= 1;
  // Announce what finished since the last look, not every refresh.
  const changed = page.operations.filter((operation) => lastStates.has(operation.id) && lastStates.get(operation.id) !== operation.state);
  lastStates = new Map(page.operations.map((operation) => [operation.id, operation.state]));
  const count = page.operations.length;
  const summary = `${count === 0 ? 'No operations' : count === 1 ? '1 operation' : `${count} operations`} on page ${pageTokens.length}${filter ? `, filter ${filter}` : ''}.`;
  const news = changed.map((operation) => `${operation.id} is now ${operation.state}.`).join(' ');
  if (announce || news) $('list-status').textContent = `${summary} ${news}`.trim();
}

function scheduleList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(async () => {
    if (!document.hidden && !$('list').hidden) {
      try {
        await loadList(false);
      } catch (error) {
        handleFailure(error);
        if (error.status === 401) return;
      }
    }
    if (!$('list').hidden) scheduleList();
  }, LIST_REFRESH_MS);
}

async function showList() {
  show('list');
  const { collection, filter } = listParams();
  $('collection').value = collection;
  $('filter').value = filter;
  lastStates = new Map();
  await loadList(true);
  scheduleList();
}

// ---- one operation --------------------------------------------------------------------------

function pretty(value) {
  return value === undefined ? '(none)' : JSON.stringify(value, null, 2);
}

/** Shows `name`'s page filled in; throws (showing nothing of it) if it cannot be read. */
async function loadDetail(name) {
  const operation = await api(`/console/api/operation?${new URLSearchParams({ name })}`);
  alertMessage('');
  show('detail');
  document.title = `${operation.id} · longrun console`;
  $('detail-title').replaceChildren(nameNode(operation.id));
  $('detail-state').replaceChildren(stateLabel(operation.cancel_requested && operation.status !== 'cancelled' && operation.status !== 'succeeded' && operation.status !== 'failed' ? `${operation.state}, cancellation requested` : operation.state));
  $('detail-method').textContent = operation.method.replace(/^\//, '');
  setProgress(operation.progress);
  $('detail-created').replaceChildren(time(operation.created_at));
  $('detail-updated').replaceChildren(time(operation.updated_at));
  const done = operation.operation.done === true;
  // The handler's estimate, while it runs.
  const eta = !done && operation.estimated_completion;
  $('detail-eta-term').hidden = $('detail-eta').hidden = !eta;
  $('detail-eta').replaceChildren(...(eta ? [time(operation.estimated_completion), ' ', until(operation.estimated_completion)] : []));
  $('detail-waiting-term').hidden = $('detail-waiting').hidden = !operation.waiting;
  $('detail-waiting').replaceChildren(...(operation.waiting ? waitingText(operation) : []));
  $('detail-attempt').textContent = operation.attempt === 0 ? `none yet (of ${operation.max_attempts})` : `${operation.attempt} of ${operation.max_attempts}`;
  $('cancel').hidden = done || operation.cancel_requested;
  $('delete').hidden = !done;
  $('timeline').replaceChildren(
    ...operation.timeline.map((event) => {
      const li = document.createElement('li');
      // "by": the store keeps no time of its own for this event, only one it cannot be later than.
      if (event.by) li.append('by ');
      li.append(time(event.at), ' ', event.what);
      if (event.expected) {
        li.className = 'expected';
        li.append(' ', until(event.at));
      }
      return li;
    }),
  );
  $('result-title').textContent = operation.error ? 'Error' : 'Response';
  $('result').textContent = operation.error ? pretty(operation.operation.error ?? operation.error) : done ? pretty(operation.result) : '(not done yet)';
  $('metadata').textContent = pretty(operation.metadata);
  return operation;
}

/** Why a pending operation is not running, and when it should start where that is known. */
function waitingText(operation) {
  const parts = [`${WAITING[operation.waiting] ?? operation.waiting}: `];
  if (operation.waiting === 'queued') parts.push('due, waiting for a runner or its concurrency key');
  else parts.push(`attempt ${operation.attempt + 1} of ${operation.max_attempts} starts at `);
  if (operation.estimated_start) parts.push(time(operation.estimated_start), ' ', until(operation.estimated_start));
  if (operation.last_error) parts.push(`. The last attempt failed: ${operation.last_error.status} ${operation.last_error.message}`);
  return parts;
}

function setProgress(percent) {
  $('detail-progress').value = percent;
  $('detail-progress-label').textContent = `${Math.round(percent)}%`;
}

/** The page for a name or a route that cannot be shown: what went wrong, and the way back. */
function showProblem(name, error) {
  show('missing');
  const status = error instanceof ApiError ? error.status : 0;
  if (name === undefined) {
    $('missing-title').textContent = 'Page not found';
    $('missing-text').textContent = `The console has no page ${location.hash}.`;
  } else if (status === 404) {
    $('missing-title').textContent = 'Operation not found';
    $('missing-text').replaceChildren('No operation ', nameNode(name), ' was found: it never existed, was deleted, or its retention ended.');
  } else {
    $('missing-title').textContent = status === 400 ? 'Not an operation name' : 'Operation not shown';
    $('missing-text').replaceChildren(nameNode(name), ` cannot be shown: ${error.message}`);
  }
  document.title = `${$('missing-title').textContent} · longrun console`;
  alertMessage(error?.message ?? '');
}

/** A failed read of one operation: signing in is handled as anywhere, the rest gets its own page. */
function detailFailure(name, error) {
  if (error instanceof ApiError && error.status !== 401) {
    stopAll();
    showProblem(name, error);
  } else {
    handleFailure(error);
  }
}

async function showDetail(name) {
  let operation;
  try {
    operation = await loadDetail(name);
  } catch (error) {
    detailFailure(name, error);
    return;
  }
  $('detail-status').textContent = '';
  if (operation.operation.done) return;
  const controller = new AbortController();
  detailWatch = controller;
  let reloading;
  const reload = () => {
    reloading ??= loadDetail(name)
      .catch((error) => detailFailure(name, error))
      .finally(() => (reloading = undefined));
  };
  try {
    await watchEvents(name, controller.signal, (event, data) => {
      if (event === 'operation') {
        const state = JSON.parse(data);
        setProgress(state.operation?.done && !state.operation?.error ? 100 : (state.progressPercent ?? 0));
        reload();
      } else if (event === 'error') {
        alertMessage(JSON.parse(data)?.error?.message ?? 'the live stream failed');
      }
    });
    await reloading;
    if (controller.signal.aborted) return;
    await loadDetail(name);
    if (!controller.signal.aborted) $('detail-status').textContent = 'The operation is done.';
  } catch (error) {
    if (controller.signal.aborted) return;
    // No stream (a proxy in the way, say): look again every couple of seconds instead.
    const poll = async () => {
      if (controller.signal.aborted) return;
      const latest = await loadDetail(name).catch((failure) => detailFailure(name, failure));
      if (latest && !latest.operation.done) setTimeout(poll, LIST_REFRESH_MS);
    };
    setTimeout(poll, LIST_REFRESH_MS);
  }
}

function confirmAction(text, yes) {
  return new Promise((resolve) => {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    dialog.showModal();
  });
}

async function act(kind) {
  const name = $('detail-title').textContent;
  const question = kind === 'cancel' ? `Cancel ${name}? Its handler is asked to stop.` : `Delete ${name}? It can no longer be read.`;
  if (!(await confirmAction(question, kind === 'cancel' ? 'Yes, cancel it' : 'Yes, delete it'))) return;
  try {
    if (kind === 'cancel') {
      await api(`/v1/${name}:cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      $('detail-status').textContent = `Cancellation of ${name} requested.`;
      await loadDetail(name);
    } else {
      await api(`/v1/${name}`, { method: 'DELETE' });
      location.hash = '#/';
      $('list-status').textContent = `${name} was deleted.`;
    }
  } catch (error) {
    handleFailure(error);
  }
}

// ---- routing ---------------------------------------------------------------------------------

async function route() {
  stopAll();
  updateAccount();
  const hash = location.hash || '#/';
  try {
    if (hash.startsWith('#/operation/')) {
      await showDetail(decodeURIComponent(hash.slice('#/operation/'.length)));
    } else if (hash === '#/' || hash.startsWith('#/?')) {
      await showList();
    } else {
      showProblem(undefined, undefined);
    }
  } catch (error) {
    handleFailure(error);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('filter-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pageTokens = [''];
    const query = new URLSearchParams({ collection: $('collection').value.trim() || 'operations', filter: $('filter').value.trim() });
    const target = `#/?${query}`;
    if (location.hash === target) void route();
    else location.hash = target;
  });
  $('next').addEventListener('click', () => {
    pageTokens.push($('next').dataset.token);
    void loadList(true).catch(handleFailure);
  });
  $('previous').addEventListener('click', () => {
    if (pageTokens.length > 1) pageTokens.pop();
    void loadList(true).catch(handleFailure);
  });
  $('cancel').addEventListener('click', () => void act('cancel'));
  $('delete').addEventListener('click', () => void act('delete'));
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value);
    $('token').value = '';
    alertMessage('');
    void route();
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    void route();
  });
  window.addEventListener('hashchange', () => {
    if (!location.hash.startsWith('#/operation/')) pageTokens = [''];
    void route();
  });
  void route();
});
