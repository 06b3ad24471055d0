// The trace page: loads the trace's data and wires minimap, waterfall, details and find.

import { Minimap } from "./minimap.js";
import { SpanDetail } from "./span_detail.js";
import { TraceModel } from "./trace_model.js";
import { Waterfall } from "./waterfall.js";

const $ = (id) => document.getElementById(id);

function spanFromUrl() {
  return new URLSearchParams(window.location.search).get("span");
}

function setSpanInUrl(spanId) {
  const url = new URL(window.location.href);
  if (spanId) url.searchParams.set("span", spanId);
  else url.searchParams.delete("span");
  history.replaceState(null, "", url);
}

function setUpFind(model, waterfall) {
  const input = $("find-input");
  const count = $("find-count");
  let timer = 0;
  const show = () => {
    if (!model.query) count.textContent = "";
    else if (!model.matches.length) count.textContent = "No match";
    else if (model.currentMatch < 0) count.textContent = `${model.matches.length} found`;
    else count.textContent = `${model.currentMatch + 1} of ${model.matches.length}`;
  };
  model.addEventListener("change", (event) => {
    if (event.detail === "find") show();
  });
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => model.find(input.value), 120);
  });
  const step = (direction) => {
    clearTimeout(timer);
    if (input.value.trim().toLowerCase() !== model.query) model.find(input.value);
    const index = model.stepMatch(direction);
    if (index >= 0) waterfall.scrollTo(index);
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      step(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      input.value = "";
      model.find("");
    }
  });
  $("find-next").addEventListener("click", () => step(1));
  $("find-prev").addEventListener("click", () => step(-1));
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select");
    if ((event.key === "/" && !typing) || ((event.ctrlKey || event.metaKey) && event.key === "f")) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  });
}

function setUpKeys(model, waterfall) {
  waterfall.viewport.addEventListener("keydown", (event) => {
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      event.preventDefault();
      const index = waterfall.neighbour(moves[event.key]);
      if (index !== undefined) {
        model.select(index);
        waterfall.scrollTo(index);
      }
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && model.selected >= 0) {
      const collapsed = model.collapsed[model.selected] === 1;
      if (collapsed === (event.key === "ArrowRight")) model.toggle(model.selected);
    } else if (event.key === "Escape") {
      model.select(-1);
    }
  });
}

async function main() {
  const root = $("trace-view");
  const status = $("wf-status");
  const response = await fetch(`/ui-api/traces/${root.dataset.traceId}`);
  if (!response.ok) {
    status.textContent = `Could not load the trace (HTTP ${response.status}).`;
    return;
  }
  const model = new TraceModel(await response.json());
  const waterfall = new Waterfall(model, {
    viewport: $("wf-viewport"),
    content: $("wf-content"),
    grid: $("wf-grid"),
    axis: $("wf-axis"),
  });
  new Minimap(model, {
    container: $("minimap"),
    canvas: $("minimap-canvas"),
    shadeLeft: $("minimap-shade-left"),
    shadeRight: $("minimap-shade-right"),
    reset: $("reset-zoom"),
  });
  const select = (index) => {
    model.select(index);
    setSpanInUrl(index >= 0 ? model.spans[index].id : null);
    if (index >= 0) waterfall.scrollTo(index);
  };
  new SpanDetail(model, $("detail"), { onSelect: select });
  model.addEventListener("change", (event) => {
    if (event.detail === "selection" && model.selected >= 0) {
      setSpanInUrl(model.spans[model.selected].id);
    }
  });
  $("expand-all").addEventListener("click", () => model.setAllCollapsed(false));
  $("collapse-all").addEventListener("click", () => model.setAllCollapsed(true));
  $("critical-toggle").addEventListener("change", (event) => {
    model.showCritical = event.target.checked;
    model.changed("rows");
  });
  setUpFind(model, waterfall);
  setUpKeys(model, waterfall);
  status.hidden = true;
  root.dataset.ready = "true";

  const wanted = spanFromUrl();
  if (wanted) {
    const index = model.indexById.get(wanted.toLowerCase());
    if (index === undefined) {
      status.textContent = `Span ${wanted} is not in this trace.`;
      status.hidden = false;
    } else {
      select(index);
    }
  }
}

main();
