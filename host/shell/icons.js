// Line icons drawn as inline SVG (presentation attributes, no inline
// style); decorative, so hidden from assistive technology.
import { html } from './vendor/htm-preact.mjs';

const PATHS = {
  home: 'M3 11l9-7 9 7v9a1 1 0 0 1-1 1h-5v-6h-6v6H4a1 1 0 0 1-1-1z',
  chats: 'M4 5h16v11H9l-5 4zM8 10h8M8 13h5',
  wallet: 'M3 7h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM3 7l13-4v4M16 13h2',
  settings:
    'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM19 12l2-1-1-3-2 .3-1.5-1.5.3-2-3-1-1 2h-2l-1-2-3 1 .3 2L5 8.3 3 8l-1 3 2 1v0l-2 1 1 3 2-.3 1.5 1.5-.3 2 3 1 1-2h2l1 2 3-1-.3-2 1.5-1.5 2 .3 1-3z',
  back: 'M15 5l-7 7 7 7',
  close: 'M6 6l12 12M18 6L6 18',
  plus: 'M12 5v14M5 12h14',
  send: 'M4 12l16-8-6 16-3-7z',
  packet: 'M5 3h14v18H5zM5 8l7 4 7-4M12 12v0',
  group: 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM3 20c0-3 3-5 6-5s6 2 6 5M16 11a3 3 0 1 0 0-6M21 20c0-2.5-1.8-4.4-4-4.9',
  transfer: 'M4 8h14l-4-4M20 16H6l4 4',
  chevron: 'M9 5l7 7-7 7',
  shield: 'M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z',
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  log: 'M6 4h12v16H6zM9 8h6M9 12h6M9 16h4',
  lang: 'M4 5h10M9 3v2M6 5c1 4 4 7 8 8M12 5c-1 4-4 7-8 8M13 21l4-9 4 9M14.5 18h5',
};

export function Icon({ name, size = 24, class: cls = '' }) {
  return html`<svg
    class=${'icon ' + cls}
    width=${size}
    height=${size}
    viewBox="0 0 24 24"
    fill="none"
    stroke="currentColor"
    stroke-width="1.8"
    stroke-linecap="round"
    stroke-linejoin="round"
    aria-hidden="true"
    focusable="false"
  >
    <path d=${PATHS[name] || ''} />
  </svg>`;
}
