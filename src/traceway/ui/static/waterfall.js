// The waterfall: one row per visible span, only the rows in view exist in the DOM.

import { h } from "./dom.js";
import { formatDuration } from "./format.js";

const ROW_H = 26;
const OVERSCAN = 12;
const INDENT_PX = 14;
const MAX_INDENT_LEVELS = 28;
const TICKS = 5;

const percent = (value) => `${value.toFixed(4)}%`;

export class Waterfall {
  constructor(model, { viewport, content, grid, axis }) {
    this.model = model;
    this.viewport = viewport;
    this.content = content;
    this.grid = grid;
    this.axis = axis;
    this.rows = new Map(); // row number → element
    this.frame = 0;
    viewport.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(viewport);
    content.addEventListener("click", (event) => this.onClick(event));
    model.addEventListener("change", () => this.refresh());
    this.refresh();
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  /** Drop every row and draw again (state changed). */
  refresh() {
    for (const element of this.rows.values()) element.remove();
    this.rows.clear();
    this.content.style.height = `${this.model.visible.length * ROW_H}px`;
    this.drawAxis();
    this.render();
  }

  render() {
    const visible = this.model.visible;
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(visible.length - 1, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    for (const [row, element] of this.rows) {
      if (row < first || row > last) {
        element.remove();
        this.rows.delete(row);
      }
    }
    const fragment = document.createDocumentFragment();
    for (let row = first; row <= last; row++) {
      if (!this.rows.has(row)) {
        const element = this.buildRow(row, visible[row]);
        this.rows.set(row, element);
        fragment.append(element);
      }
    }
    this.content.append(fragment);
  }

  x(ns) {
    const { from, to } = this.model.window;
    return ((ns - from) / (to - from)) * 100;
  }

  drawAxis() {
    const { from, to } = this.model.window;
    const ticks = [];
    const lines = [];
    for (let i = 0; i < TICKS; i++) {
      const at = from + ((to - from) * i) / (TICKS - 1);
      const left = percent((i / (TICKS - 1)) * 100);
      const tick = h("span", { className: "wf-tick" }, formatDuration(at));
      tick.style.left = left;
      ticks.push(tick);
      const line = h("div", { className: "wf-gridline" });
      line.style.left = left;
      lines.push(line);
    }
    this.axis.replaceChildren(...ticks);
    this.grid.replaceChildren(...lines);
  }

  buildRow(row, index) {
    const model = this.model;
    const span = model.spans[index];
    const service = model.serviceOf(span);
    const classes = ["row"];
    if (span.error) classes.push("error");
    if (index === model.selected) classes.push("selected");
    if (model.query) {
      if (model.isMatch[index]) classes.push("match");
      else classes.push("dim");
      if (model.matches[model.currentMatch] === index) classes.push("current-match");
    }
    const onPath = model.showCritical && model.critical.has(index);
    if (onPath) classes.push("on-critical");

    const indent = h("span", { className: "indent" });
    indent.style.width = `${Math.min(span.depth, MAX_INDENT_LEVELS) * INDENT_PX}px`;
    const hasChildren = span.descendants > 0;
    const collapsed = model.collapsed[index] === 1;
    const twisty = hasChildren
      ? h(
          "button",
          {
            type: "button",
            className: "twisty",
            title: collapsed ? `Expand (${span.descendants} spans below)` : "Collapse",
            "aria-expanded": String(!collapsed),
            dataset: { toggle: String(index) },
          },
          collapsed ? "▸" : "▾",
        )
      : h("span", { className: "twisty-leaf" });
    const hidden = collapsed && model.query ? model.hiddenMatches(index) : 0;
    const name = h(
      "div",
      { className: "row-name", title: `${service.name}: ${span.name}` },
      indent,
      twisty,
      h("span", { className: `row-service c${service.colour}` }, service.name),
      h("span", { className: "row-operation" }, span.name),
      span.error ? h("span", { className: "row-error", title: "Error" }, "!") : null,
      collapsed ? h("span", { className: "row-children" }, `+${span.descendants}`) : null,
      hidden ? h("span", { className: "row-hidden-match" }, `(${hidden} found inside)`) : null,
    );

    const timeline = h("div", { className: "row-timeline" });
    const left = this.x(span.start);
    const right = this.x(span.end);
    const bar = h("div", { className: `bar c${service.colour}` });
    bar.style.left = percent(left);
    bar.style.width = percent(Math.max(right - left, 0));
    timeline.append(bar);
    if (onPath) {
      for (const [start, end] of model.critical.get(index)) {
        const seg = h("div", { className: "cp-seg", title: "Critical path" });
        seg.style.left = percent(this.x(start));
        seg.style.width = percent(Math.max(this.x(end) - this.x(start), 0));
        timeline.append(seg);
      }
    }
    for (const event of span.events) {
      const tick = h("div", {
        className: event.name === "exception" ? "event-tick exception" : "event-tick",
        title: `${event.name} at ${formatDuration(event.time - span.start)}`,
      });
      tick.style.left = percent(this.x(event.time));
      timeline.append(tick);
    }
    const label = h("span", { className: "bar-label" }, formatDuration(span.end - span.start));
    // Right of the bar if there is room, else left of it, else inside it.
    if (right < 82) label.style.left = percent(Math.max(right, 0));
    else if (left > 14) label.style.right = percent(Math.max(100 - left, 0));
    else {
      label.classList.add("inside");
      label.style.left = percent(Math.max(left, 0));
    }
    timeline.append(label);

    const element = h(
      "div",
      { className: classes.join(" "), role: "row", dataset: { index: String(index), spanId: span.id } },
      name,
      timeline,
    );
    element.style.transform = `translateY(${row * ROW_H}px)`;
    return element;
  }

  onClick(event) {
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      this.model.toggle(Number(toggle.dataset.toggle));
      return;
    }
    const row = event.target.closest(".row");
    if (row) this.model.select(Number(row.dataset.index));
  }

  /** Scroll so that a span's row is in view (centred when it was out of view). */
  scrollTo(index) {
    const row = this.model.rowOf[index];
    if (row < 0) return;
    const top = row * ROW_H;
    const view = this.viewport;
    if (top < view.scrollTop || top + ROW_H > view.scrollTop + view.clientHeight) {
      view.scrollTop = Math.max(0, top - view.clientHeight / 2 + ROW_H / 2);
    }
    this.render();
  }

  /** The visible row next to the selected one (step -1 or 1). */
  neighbour(step) {
    const model = this.model;
    const row = model.selected >= 0 ? model.rowOf[model.selected] : -1;
    const next = Math.min(model.visible.length - 1, Math.max(0, row + step));
    return model.visible[next];
  }
}
