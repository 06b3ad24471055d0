// The minimap: every span of the trace on one small canvas; drag to pick a time window.

const MIN_DRAG_PX = 4;

export class Minimap {
  constructor(model, { container, canvas, shadeLeft, shadeRight, reset }) {
    this.model = model;
    this.container = container;
    this.canvas = canvas;
    this.shadeLeft = shadeLeft;
    this.shadeRight = shadeRight;
    this.reset = reset;
    this.drag = null;
    new ResizeObserver(() => this.draw()).observe(container);
    window.addEventListener("traceway:theme", () => this.draw());
    container.addEventListener("pointerdown", (event) => this.onDown(event));
    container.addEventListener("pointermove", (event) => this.onMove(event));
    container.addEventListener("pointerup", (event) => this.onUp(event));
    container.addEventListener("dblclick", () => this.model.setWindow(0, this.model.durationNs));
    reset.addEventListener("click", () => this.model.setWindow(0, this.model.durationNs));
    model.addEventListener("change", (event) => {
      if (event.detail === "window") this.showWindow();
    });
    this.draw();
    this.showWindow();
  }

  draw() {
    const { canvas, model } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, width, height);
    const styles = getComputedStyle(document.documentElement);
    const colours = model.services.map((s) => styles.getPropertyValue(`--c${s.colour}`).trim());
    const errorColour = styles.getPropertyValue("--error").trim();
    const spans = model.spans;
    const rowHeight = height / spans.length;
    const barHeight = Math.max(1, Math.min(rowHeight, 6 * ratio));
    const scale = width / model.durationNs;
    spans.forEach((span, i) => {
      context.fillStyle = span.error ? errorColour : colours[span.service];
      const x = span.start * scale;
      const w = Math.max(1, (span.end - span.start) * scale);
      context.fillRect(x, i * rowHeight, w, barHeight);
    });
  }

  fraction(event) {
    const box = this.container.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  }

  shade(from, to) {
    this.shadeLeft.style.width = `${from * 100}%`;
    this.shadeRight.style.width = `${(1 - to) * 100}%`;
    this.shadeLeft.toggleAttribute("data-empty", from <= 0);
    this.shadeRight.toggleAttribute("data-empty", to >= 1);
  }

  showWindow() {
    const { from, to } = this.model.window;
    const duration = this.model.durationNs;
    this.shade(from / duration, to / duration);
    this.reset.disabled = !this.model.zoomed;
  }

  onDown(event) {
    if (event.button !== 0) return;
    this.container.setPointerCapture(event.pointerId);
    this.drag = { start: this.fraction(event), x: event.clientX };
  }

  onMove(event) {
    if (!this.drag) return;
    const here = this.fraction(event);
    this.shade(Math.min(here, this.drag.start), Math.max(here, this.drag.start));
  }

  onUp(event) {
    if (!this.drag) return;
    const { start, x } = this.drag;
    this.drag = null;
    if (Math.abs(event.clientX - x) < MIN_DRAG_PX) {
      this.showWindow();
      return;
    }
    const here = this.fraction(event);
    const duration = this.model.durationNs;
    this.model.setWindow(Math.min(start, here) * duration, Math.max(start, here) * duration);
  }
}
