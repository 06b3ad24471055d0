// Applies the saved theme before the page paints (a classic script, so it runs at once).
(function () {
  try {
    var theme = localStorage.getItem("traceway.theme");
    if (theme === "dark" || theme === "light") {
      document.documentElement.dataset.theme = theme;
    }
  } catch (e) {
    // Storage may be disabled; the system preference applies.
  }
})();
