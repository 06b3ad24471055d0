// The span detail panel: everything a span carries, as text.

import { copyText } from "./common.js";
import { h } from "./dom.js";
import { formatDuration, formatInstant } from "./format.js";
import { valueText } from "./trace_model.js";

const STACKTRACE = "exception.stacktrace";

function attributeTable(attributes, className = "attributes") {
  if (!attributes.length) return h("p", { className: "hint" }, "None.");
  return h(
    "table",
    { className: `kv ${className}` },
    h(
      "tbody",
      {},
      attributes.map(([key, type, value]) =>
        h(
          "tr",
          { dataset: { key } },
          h("th", { scope: "row" }, key),
          h("td", { className: `v-${type}` }, valueText(type, value)),
          h("td", { className: "type" }, type),
        ),
      ),
    ),
  );
}

function facts(rows) {
  return h(
    "table",
    { className: "kv facts-table" },
    h(
      "tbody",
      {},
      rows
        .filter(([, value]) => value !== null && value !== undefined && value !== "")
        .map(([label, value]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value))),
    ),
  );
}

function section(title, ...children) {
  return h("section", {}, h("h3", {}, title), ...children);
}

export class SpanDetail {
  constructor(model, panel, { onSelect }) {
    this.model = model;
    this.panel = panel;
    this.onSelect = onSelect;
    model.addEventListener("change", (event) => {
      if (event.detail === "selection") this.render();
    });
    window.addEventListener("traceway:tz", () => this.render());
  }

  absolute(offsetNs) {
    return formatInstant(this.model.startNs + BigInt(Math.round(offsetNs)), "precise");
  }

  deepLink(span) {
    const url = new URL(window.location.href);
    url.search = `?span=${span.id}`;
    url.hash = "";
    return url.toString();
  }

  render() {
    const model = this.model;
    const index = model.selected;
    if (index < 0) {
      this.panel.hidden = true;
      this.panel.replaceChildren();
      return;
    }
    const span = model.spans[index];
    const service = model.serviceOf(span);
    const parent = span.parent >= 0 ? model.spans[span.parent] : null;
    const close = h("button", { type: "button", className: "icon-button", title: "Close" }, "✕");
    close.addEventListener("click", () => this.onSelect(-1));
    const link = this.deepLink(span);
    const copy = h("button", { type: "button", className: "button" }, "Copy link");
    copy.addEventListener("click", () => copyText(link, copy));

    const parentCell = parent
      ? h("a", { href: `?span=${parent.id}`, className: "mono", dataset: { select: String(span.parent) } }, parent.id)
      : span.parentId
        ? `${span.parentId} (not in this trace)`
        : "none (root span)";
    const critical = model.critical.get(index);
    const criticalNs = critical ? critical.reduce((sum, [s, e]) => sum + (e - s), 0) : 0;
    const duration = span.end - span.start;

    const children = [
      h(
        "div",
        { className: "detail-head" },
        h("h2", { className: "detail-title", id: "detail-operation" }, span.name),
        close,
      ),
      h(
        "div",
        { className: "detail-sub" },
        h("span", { className: `chip c${service.colour}` }, h("span", { className: "chip-dot" }), h("span", { className: "chip-name", id: "detail-service" }, service.name)),
        h("span", { className: "badge", id: "detail-kind" }, span.kind),
        span.status === "ERROR"
          ? h("span", { className: "badge badge-error", id: "detail-status" }, span.statusMessage ? `ERROR: ${span.statusMessage}` : "ERROR")
          : h("span", { className: "badge", id: "detail-status" }, span.status),
      ),
      h(
        "div",
        { className: "detail-actions" },
        h("a", { className: "button", href: link, id: "span-link" }, "Link to this span"),
        copy,
      ),
      facts([
        ["Start", this.absolute(span.start)],
        ["Offset", `+${formatDuration(span.start)} from trace start`],
        ["Duration", formatDuration(duration)],
        ["Critical path", critical ? `${formatDuration(criticalNs)} (${Math.round((100 * criticalNs) / Math.max(duration, 1))}% of this span)` : null],
        ["Span id", h("span", { className: "mono", id: "detail-span-id" }, span.id)],
        ["Parent", parentCell],
        ["Trace state", span.traceState],
        ["Flags", span.flags ? `0x${span.flags.toString(16).padStart(2, "0")}` : null],
        ["Scope", span.scope.name ? `${span.scope.name}${span.scope.version ? " " + span.scope.version : ""}` : null],
      ]),
    ];
    if (span.warnings.length) {
      children.push(h("ul", { className: "warnings" }, span.warnings.map((w) => h("li", {}, w))));
    }
    children.push(section(`Attributes (${span.attributes.length})`, attributeTable(span.attributes)));
    if (span.events.length) {
      children.push(section(`Events (${span.events.length})`, span.events.map((event) => this.event(event, span))));
    }
    if (span.links.length) {
      children.push(
        section(
          `Links (${span.links.length})`,
          span.links.map((l) =>
            h(
              "div",
              { className: "link-item" },
              h("a", { href: `/trace/${l.traceId}?span=${l.spanId}`, className: "mono trace-link-out" }, `trace ${l.traceId} · span ${l.spanId}`),
              l.attributes.length ? attributeTable(l.attributes) : null,
            ),
          ),
        ),
      );
    }
    const resource = model.data.resources[span.resource];
    children.push(section("Resource", attributeTable(resource.attributes, "resource")));
    const dropped = Object.entries(span.dropped).filter(([, n]) => n > 0);
    if (dropped.length) {
      children.push(section("Dropped by the SDK", facts(dropped.map(([what, n]) => [what, String(n)]))));
    }
    this.panel.replaceChildren(...children);
    this.panel.hidden = false;
    this.panel.scrollTop = 0;
    for (const anchor of this.panel.querySelectorAll("[data-select]")) {
      anchor.addEventListener("click", (event) => {
        event.preventDefault();
        this.onSelect(Number(anchor.dataset.select));
      });
    }
  }

  event(event, span) {
    const isException = event.name === "exception";
    const attributes = event.attributes.filter(([key]) => key !== STACKTRACE);
    const stack = event.attributes.find(([key]) => key === STACKTRACE);
    return h(
      "div",
      { className: isException ? "event exception" : "event" },
      h(
        "div",
        { className: "event-head" },
        h("span", { className: "event-time", title: this.absolute(event.time) }, `+${formatDuration(event.time - span.start)}`),
        h("span", { className: "event-name" }, event.name),
      ),
      attributes.length ? attributeTable(attributes, "event-attributes") : null,
      stack ? h("pre", { className: "stacktrace" }, valueText(stack[1], stack[2])) : null,
    );
  }
}
