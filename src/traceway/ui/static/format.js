// Durations and instants as the UI shows them; mirrors traceway/ui/formatting.py.

const UNITS = [
  [60e9, "min"],
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
];

function threeDigits(value) {
  const text = value.toPrecision(3);
  return text.includes("e") ? value.toFixed(0) : String(Number(text));
}

/** 850 ns, 1.23 µs, 45.6 ms, 2.5 s, 3.2 min. */
export function formatDuration(ns) {
  if (ns < 0) return "-" + formatDuration(-ns);
  for (const [size, unit] of UNITS) {
    if (ns >= size) return `${threeDigits(ns / size)} ${unit}`;
  }
  return `${Math.round(ns)} ns`;
}

const TZ_KEY = "traceway.tz";

/** "utc" or "local": how the UI shows instants (local unless switched). */
export function timeZoneMode() {
  try {
    return localStorage.getItem(TZ_KEY) === "utc" ? "utc" : "local";
  } catch (e) {
    return "local";
  }
}

export function setTimeZoneMode(mode) {
  try {
    localStorage.setItem(TZ_KEY, mode);
  } catch (e) {
    // Not saved; this page still switches.
  }
  window.dispatchEvent(new CustomEvent("traceway:tz", { detail: mode }));
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

function zoneSuffix(date, mode) {
  if (mode === "utc") return "UTC";
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Calendar fields of an epoch-millisecond instant in the chosen zone. */
export function fields(ms, mode = timeZoneMode()) {
  const d = new Date(ms);
  const utc = mode === "utc";
  return {
    date: d,
    year: utc ? d.getUTCFullYear() : d.getFullYear(),
    month: (utc ? d.getUTCMonth() : d.getMonth()) + 1,
    day: utc ? d.getUTCDate() : d.getDate(),
    hours: utc ? d.getUTCHours() : d.getHours(),
    minutes: utc ? d.getUTCMinutes() : d.getMinutes(),
    seconds: utc ? d.getUTCSeconds() : d.getSeconds(),
  };
}

/**
 * An instant (BigInt nanoseconds since the epoch) as text.
 * fmt: "datetime" (default, milliseconds), "time" (no date) or "precise" (microseconds).
 */
export function formatInstant(ns, fmt = "datetime", mode = timeZoneMode()) {
  const big = BigInt(ns);
  const ms = Number(big / 1000000n);
  const f = fields(ms, mode);
  const millis = pad(Number((big / 1000000n) % 1000n), 3);
  const fraction = fmt === "precise" ? millis + pad(Number((big / 1000n) % 1000n), 3) : millis;
  const clock = `${pad(f.hours)}:${pad(f.minutes)}:${pad(f.seconds)}.${fraction}`;
  const date = `${f.year}-${pad(f.month)}-${pad(f.day)}`;
  return fmt === "time" ? clock : `${date} ${clock} ${zoneSuffix(f.date, mode)}`;
}

/** Rewrite every element with data-ns (server-rendered in UTC) in the chosen zone. */
export function renderInstants(root = document) {
  for (const element of root.querySelectorAll("[data-ns]")) {
    if (!element.dataset.ns || element.dataset.ns === "0") continue;
    element.textContent = formatInstant(element.dataset.ns, element.dataset.fmt || "datetime");
  }
}
