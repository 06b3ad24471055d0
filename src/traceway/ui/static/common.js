// On every page: theme and time-zone switches, copy buttons, instants in the chosen zone.

import { renderInstants, setTimeZoneMode, timeZoneMode } from "./format.js";

const THEME_KEY = "traceway.theme";

function currentTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen === "dark" || chosen === "light") return chosen;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function showTheme(button) {
  const theme = currentTheme();
  button.textContent = theme === "dark" ? "Dark" : "Light";
  button.setAttribute("aria-label", `Theme: ${theme}; switch`);
}

function setUpTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  showTheme(button);
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch (e) {
      // Not saved; this page still switches.
    }
    showTheme(button);
    window.dispatchEvent(new CustomEvent("traceway:theme", { detail: next }));
  });
}

function showZone(button) {
  const mode = timeZoneMode();
  button.textContent = mode === "utc" ? "UTC" : "Local time";
  button.setAttribute("aria-label", `Times in ${mode === "utc" ? "UTC" : "local time"}; switch`);
  button.dataset.mode = mode;
}

function setUpTimeZone() {
  const button = document.getElementById("tz-toggle");
  if (!button) return;
  showZone(button);
  button.addEventListener("click", () => {
    setTimeZoneMode(timeZoneMode() === "utc" ? "local" : "utc");
  });
  window.addEventListener("traceway:tz", () => {
    showZone(button);
    renderInstants();
  });
  renderInstants();
}

/** Copy text to the clipboard; falls back to a selection when the API is missing. */
export async function copyText(text, button) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch (e) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    done = document.execCommand("copy");
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => {
      button.textContent = label;
    }, 1200);
  }
}

function setUpCopyButtons() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (button) copyText(button.dataset.copy, button);
  });
}

setUpTheme();
setUpTimeZone();
setUpCopyButtons();
