// Hash routes (`#/chats/c1`): the current route as a store, and navigation.
import { createStore } from './store.js';

function parse(hash) {
  const [path, query = ''] = ((hash || '').replace(/^#/, '') || '/').split('?');
  return { ...match(path), query: new URLSearchParams(query) };
}

function match(path) {
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [first, second, third] = parts;
  switch (first) {
    case undefined:
      return { name: 'home' };
    case 'app':
      return second ? { name: 'app', id: second } : { name: 'home' };
    case 'chats':
      return second ? { name: 'conversation', id: second } : { name: 'chats' };
    case 'wallet':
      if (second === 'transfer') return { name: 'transfer' };
      if (second === 'red-packet') return { name: 'send-packet' };
      if (second === 'payments' && third) return { name: 'payment', id: third };
      return { name: 'wallet' };
    case 'red-packets':
      return second ? { name: 'packet', id: second } : { name: 'wallet' };
    case 'settings':
      if (second === 'access-log') return { name: 'access-log' };
      if (second === 'apps' && third) return { name: 'app-settings', id: third };
      return { name: 'settings' };
    default:
      return { name: 'not-found' };
  }
}

export const route = createStore({ ...parse(location.hash), hash: location.hash || '#/' });

function sync() {
  if (route.get().hash === (location.hash || '#/')) return;
  route.set({ ...parse(location.hash), hash: location.hash || '#/' });
}

window.addEventListener('hashchange', sync);

// Goes to `path` (`/chats`); `replace` leaves no history entry.
export function navigate(path, { replace = false } = {}) {
  const hash = '#' + path;
  if (location.hash === hash) return;
  if (replace) {
    location.replace(hash);
  } else {
    location.hash = hash;
  }
  // At once, not at the later hashchange: what reacts to the route (an app
  // screen reopening its frame) must see where the person went.
  sync();
}

// The current route as a path without `#`.
export function currentPath() {
  return (location.hash || '#/').replace(/^#/, '') || '/';
}
