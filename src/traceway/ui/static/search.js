// The search form: operations follow the chosen service; the time range as elsewhere.

import { h } from "./dom.js";
import { setUpTimeRange } from "./time_range.js";

const form = document.getElementById("search-form");

async function loadOperations(service, select) {
  const keep = select.value;
  const options = [h("option", { value: "" }, "All operations")];
  if (service) {
    const response = await fetch(`/api/services/${encodeURIComponent(service)}/operations`);
    if (response.ok) {
      const body = await response.json();
      for (const name of body.data || []) {
        options.push(h("option", { value: name, selected: name === keep }, name));
      }
    }
  }
  select.replaceChildren(...options);
}

if (form) {
  setUpTimeRange(form);
  const service = form.querySelector("[data-operations-for]");
  const operation = document.getElementById(service.dataset.operationsFor);
  service.addEventListener("change", () => loadOperations(service.value, operation));
}
