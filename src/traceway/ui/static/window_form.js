// Pages with a time window (service map, services): pick a range and the page reloads.

import { setUpTimeRange } from "./time_range.js";

for (const form of document.querySelectorAll("form[data-autosubmit]")) {
  setUpTimeRange(form);
  const lookback = form.querySelector("[data-lookback]");
  lookback.addEventListener("change", () => {
    if (lookback.value !== "custom") form.requestSubmit();
  });
}
