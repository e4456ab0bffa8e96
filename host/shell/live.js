// The person's live events (`GET /me/events`, server-sent events with the
// session cookie). The browser reconnects by itself and resumes with
// `Last-Event-ID`; when the host closes the stream for good (a restart, a
// refusal) it is reopened here with `?after=` the last event seen.
import { get } from './api.js';
import { onSession, session } from './state.js';

const EVENTS = ['message', 'notification', 'payment-prompt', 'packet-claimed'];
const listeners = new Map(EVENTS.map((e) => [e, new Set()]));

let source = null;
let lastId = null;
let retry = 0;
let timer = 0;

// `fn(data)` on every live event named `name`; returns the unsubscribe.
export function onLive(name, fn) {
  const set = listeners.get(name);
  if (!set) return () => {};
  set.add(fn);
  return () => set.delete(fn);
}

function dispatch(name, e) {
  if (e.lastEventId) lastId = e.lastEventId;
  retry = 0;
  let data = null;
  try {
    data = JSON.parse(e.data);
  } catch {
    return;
  }
  for (const fn of [...listeners.get(name)]) {
    try {
      fn(data);
    } catch (err) {
      console.error(err);
    }
  }
}

function open() {
  close();
  if (session.get().status !== 'in') return;
  const url = lastId ? '/me/events?after=' + encodeURIComponent(lastId) : '/me/events';
  const es = new EventSource(url);
  source = es;
  for (const name of EVENTS) es.addEventListener(name, (e) => dispatch(name, e));
  es.onopen = () => {
    retry = 0;
  };
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED || source !== es) return;
    // Closed for good: check the session is still there, then reopen
    // (waiting longer after each failure, at most 30 s).
    const wait = Math.min(30000, 1000 * 2 ** retry++);
    timer = setTimeout(async () => {
      try {
        await get('/auth/session');
        open();
      } catch {
        // Signed out: the next sign-in starts the stream again.
      }
    }, wait);
  };
}

function close() {
  clearTimeout(timer);
  if (source) source.close();
  source = null;
}

onSession(
  () => {
    lastId = null;
    open();
  },
  () => {
    close();
    lastId = null;
  },
);
