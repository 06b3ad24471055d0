// The trace page's state: spans in tree order, what is collapsed, selected, found, zoomed.

/** Text of a typed attribute value ([key, type, value]) as the UI shows it. */
export function valueText(type, value) {
  if (type === "array" || type === "map") return JSON.stringify(value);
  if (type === "null") return "null";
  return String(value);
}

export class TraceModel extends EventTarget {
  constructor(data) {
    super();
    this.data = data;
    this.spans = data.spans;
    this.services = data.services;
    this.startNs = BigInt(data.startNs);
    this.durationNs = Math.max(data.durationNs, 1);
    this.collapsed = new Uint8Array(this.spans.length);
    this.selected = -1;
    this.window = { from: 0, to: this.durationNs };
    this.showCritical = true;
    this.critical = new Map(); // span index → [[start, end], ...]
    for (const [index, start, end] of data.criticalPath) {
      if (!this.critical.has(index)) this.critical.set(index, []);
      this.critical.get(index).push([start, end]);
    }
    this.indexById = new Map(this.spans.map((span, i) => [span.id, i]));
    this.query = "";
    this.matches = []; // span indices, in tree order
    this.isMatch = new Uint8Array(this.spans.length);
    this.matchesBefore = new Int32Array(this.spans.length + 1); // prefix counts
    this.currentMatch = -1;
    this.haystacks = null;
    this.computeVisible();
  }

  /** Notify the views; kind is "rows", "selection", "window" or "find". */
  changed(kind) {
    this.dispatchEvent(new CustomEvent("change", { detail: kind }));
  }

  computeVisible() {
    const visible = [];
    const spans = this.spans;
    for (let i = 0; i < spans.length; ) {
      visible.push(i);
      i += this.collapsed[i] ? spans[i].descendants + 1 : 1;
    }
    this.visible = visible;
    this.rowOf = new Int32Array(spans.length).fill(-1);
    visible.forEach((index, row) => {
      this.rowOf[index] = row;
    });
  }

  toggle(index) {
    if (this.spans[index].descendants === 0) return;
    this.collapsed[index] = this.collapsed[index] ? 0 : 1;
    this.computeVisible();
    this.changed("rows");
  }

  /** Expand everything, or collapse every span below the roots (roots stay open). */
  setAllCollapsed(collapse) {
    this.spans.forEach((span, i) => {
      this.collapsed[i] = collapse && span.descendants > 0 && span.depth > 0 ? 1 : 0;
    });
    this.computeVisible();
    this.changed("rows");
  }

  /** Expand every ancestor of a span so that it has a row. */
  reveal(index) {
    let changed = false;
    for (let p = this.spans[index].parent; p >= 0; p = this.spans[p].parent) {
      if (this.collapsed[p]) {
        this.collapsed[p] = 0;
        changed = true;
      }
    }
    if (changed) {
      this.computeVisible();
      this.changed("rows");
    }
  }

  select(index) {
    this.selected = index;
    if (index >= 0) this.reveal(index);
    this.changed("selection");
  }

  setWindow(from, to) {
    const low = Math.max(0, Math.min(from, to));
    const high = Math.min(this.durationNs, Math.max(from, to));
    this.window = high - low < 1 ? { from: 0, to: this.durationNs } : { from: low, to: high };
    this.changed("window");
  }

  get zoomed() {
    return this.window.from > 0 || this.window.to < this.durationNs;
  }

  serviceOf(span) {
    return this.services[span.service];
  }

  buildHaystacks() {
    const resources = this.data.resources;
    this.haystacks = this.spans.map((span) => {
      const parts = [span.name, this.serviceOf(span).name, span.id, span.kind, span.statusMessage];
      for (const [key, type, value] of span.attributes) parts.push(`${key}=${valueText(type, value)}`);
      for (const [key, type, value] of resources[span.resource].attributes) {
        parts.push(`${key}=${valueText(type, value)}`);
      }
      for (const event of span.events) parts.push(event.name);
      return parts.join("\n").toLowerCase();
    });
  }

  /** Find spans whose name, service, id, attributes or events contain the text. */
  find(text) {
    const query = text.trim().toLowerCase();
    this.query = query;
    this.isMatch.fill(0);
    this.matches = [];
    if (query) {
      if (!this.haystacks) this.buildHaystacks();
      this.haystacks.forEach((haystack, i) => {
        if (haystack.includes(query)) {
          this.isMatch[i] = 1;
          this.matches.push(i);
        }
      });
    }
    for (let i = 0; i < this.spans.length; i++) {
      this.matchesBefore[i + 1] = this.matchesBefore[i] + this.isMatch[i];
    }
    this.currentMatch = -1;
    this.changed("find");
  }

  /** Matches hidden inside a collapsed span's subtree. */
  hiddenMatches(index) {
    const span = this.spans[index];
    return this.matchesBefore[index + 1 + span.descendants] - this.matchesBefore[index + 1];
  }

  /** Move to the next (step 1) or previous (step -1) match; returns its span index. */
  stepMatch(step) {
    if (!this.matches.length) return -1;
    const count = this.matches.length;
    this.currentMatch = (((this.currentMatch + step) % count) + count) % count;
    const index = this.matches[this.currentMatch];
    this.reveal(index);
    this.changed("find");
    return index;
  }
}
