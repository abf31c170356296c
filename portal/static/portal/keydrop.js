// Small progressive enhancements for the intake pages; every page works without them.
(function () {
  "use strict";
  function show(el, visible) { if (el) { el.classList.toggle("hidden", !visible); } }

  function syncKeyType() {
    var chosen = document.querySelector("input[name=key_type]:checked");
    var partner = chosen && chosen.value === "partner";
    var secret = document.getElementById("field-client_secret");
    show(secret, !partner);
    show(document.getElementById("partner-note"), partner);
    show(document.getElementById("steps-partner"), partner);
    show(document.getElementById("steps-institutional"), !partner);
    if (partner) { var input = document.getElementById("id_client_secret"); if (input) { input.value = ""; } }
  }

  function syncExpiry() {
    var chosen = document.querySelector("input[name=expiry]:checked");
    var value = chosen ? chosen.value : "";
    show(document.getElementById("field-created_on"), value !== "exact" && value !== "none");
    show(document.getElementById("field-expires_on"), value === "exact");
  }

  function announce(text) {
    var status = document.getElementById("live-status");
    if (status) { status.textContent = ""; setTimeout(function () { status.textContent = text; }, 50); }
  }

  function copy(button, text) {
    if (!navigator.clipboard) { return; }
    navigator.clipboard.writeText(text).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      announce("Copied to the clipboard");
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "key_type") { syncKeyType(); }
    if (event.target.name === "expiry") { syncExpiry(); }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (button) {
      event.preventDefault();
      if (button.hasAttribute("data-copy")) {
        copy(button, button.getAttribute("data-copy"));
      } else {
        var source = document.getElementById(button.getAttribute("data-copy-from"));
        if (source) { copy(button, source.textContent.trim()); }
      }
      return;
    }
    // "Show the steps for a partner key": choose that key type in the form, without a reload.
    var switcher = event.target.closest("a[data-key-type]");
    var wanted = switcher && switcher.getAttribute("data-key-type");
    var radio = wanted && document.querySelector("input[name=key_type][value=" + wanted + "]");
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      syncKeyType();
      var steps = document.getElementById("steps-" + radio.value);
      if (steps) { steps.setAttribute("tabindex", "-1"); steps.focus(); }
    }
  });
  if (document.querySelector("input[name=key_type]")) { syncKeyType(); }
  if (document.querySelector("input[name=expiry]")) { syncExpiry(); }
  // After a refused submission, start at the list of what to fix.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
