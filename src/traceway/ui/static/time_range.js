// Time-range fields: "Custom range" shows From/To, which are read in the chosen zone.

import { fields, timeZoneMode } from "./format.js";

const pad = (n) => String(n).padStart(2, "0");

/** ISO text with offset (from the URL) → the value a datetime-local input shows. */
function toInput(text) {
  if (!text) return "";
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text + "Z");
  if (Number.isNaN(ms)) return "";
  const f = fields(ms);
  return `${f.year}-${pad(f.month)}-${pad(f.day)}T${pad(f.hours)}:${pad(f.minutes)}:${pad(f.seconds)}`;
}

/** A datetime-local value → ISO text with the offset of the chosen zone. */
function fromInput(value) {
  if (!value) return "";
  if (timeZoneMode() === "utc") return value + "Z";
  const local = new Date(value); // datetime-local text without offset parses as local time
  if (Number.isNaN(local.getTime())) return value;
  const offset = -local.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${value}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Wire a form's lookback menu, custom range and instant inputs. */
export function setUpTimeRange(form) {
  const lookback = form.querySelector("[data-lookback]");
  const custom = form.querySelector("[data-custom-range]");
  const instants = [...form.querySelectorAll("[data-instant]")];
  const show = () => {
    if (custom) custom.hidden = lookback.value !== "custom";
  };
  const load = () => {
    for (const input of instants) {
      if (input.dataset.value) input.value = toInput(input.dataset.value);
    }
  };
  if (lookback) lookback.addEventListener("change", show);
  load();
  window.addEventListener("traceway:tz", load);
  form.addEventListener("submit", () => {
    for (const input of instants) {
      // Send the instant with its offset through a hidden field of the same name.
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = input.name;
      hidden.value = lookback && lookback.value === "custom" ? fromInput(input.value) : "";
      input.removeAttribute("name");
      form.append(hidden);
    }
    // Leave empty fields out of the URL, so that it stays short and readable.
    for (const element of form.elements) {
      if (element.name && element.value === "" && element.type !== "checkbox") {
        element.removeAttribute("name");
      }
    }
  });
}
