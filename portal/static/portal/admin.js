// Keydrop's small additions to the Django admin. Loaded as a file: the portal's CSP allows no inline script.
(function () {
  "use strict";

  function copy(button, text) {
    if (!navigator.clipboard) { return; }
    navigator.clipboard.writeText(text).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) { return; }
    event.preventDefault();
    if (button.hasAttribute("data-copy")) {
      copy(button, button.getAttribute("data-copy"));
    } else {
      var source = document.getElementById(button.getAttribute("data-copy-from"));
      if (source) { copy(button, source.textContent.trim()); }
    }
  });

  // Forms that do something hard to undo ask first (rotating a link, a calendar address).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  });
})();
