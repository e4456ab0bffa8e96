// A few named places in Shanghai for the demo (the app itself takes any
// lat/lng): pick two, or type coordinates.
export const PLACES = [
  { id: "peoples-square", lat: 31.2304, lng: 121.4737, en: "People's Square", "zh-CN": "人民广场" },
  { id: "the-bund", lat: 31.24, lng: 121.49, en: "The Bund", "zh-CN": "外滩" },
  { id: "lujiazui", lat: 31.2397, lng: 121.4998, en: "Lujiazui", "zh-CN": "陆家嘴" },
  { id: "yu-garden", lat: 31.2272, lng: 121.4921, en: "Yu Garden", "zh-CN": "豫园" },
  { id: "jingan-temple", lat: 31.2235, lng: 121.4453, en: "Jing'an Temple", "zh-CN": "静安寺" },
  { id: "xintiandi", lat: 31.2197, lng: 121.4751, en: "Xintiandi", "zh-CN": "新天地" },
  { id: "hongqiao-station", lat: 31.194, lng: 121.32, en: "Hongqiao Railway Station", "zh-CN": "虹桥火车站" },
  { id: "pudong-airport", lat: 31.1443, lng: 121.8083, en: "Pudong Airport", "zh-CN": "浦东机场" },
];

/** A place's name in `lang`, or its coordinates when it is not a named one. */
export function placeName(point, lang) {
  const p = PLACES.find((x) => Math.abs(x.lat - point.lat) < 1e-4 && Math.abs(x.lng - point.lng) < 1e-4);
  return p ? p[lang] || p.en : `${point.lat.toFixed(4)}, ${point.lng.toFixed(4)}`;
}
