// Small observable stores: the shell's shared state (session, apps, open
// frames, the sheet, toasts) lives here, and components read it with
// `useStore`, re-rendering when it changes.
import { useEffect, useState } from './vendor/htm-preact.mjs';

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      state = typeof patch === 'function' ? patch(state) : { ...state, ...patch };
      for (const fn of [...listeners]) fn(state);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

// The store's state, re-rendering the component when it changes.
export function useStore(store) {
  const [state, setState] = useState(store.get());
  useEffect(() => {
    setState(store.get());
    return store.subscribe(setState);
  }, [store]);
  return state;
}
