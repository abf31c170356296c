// Small progressive enhancements for the intake form; every page works without them.
(function () {
  "use strict";
  function show(el, visible) { if (el) { el.classList.toggle("hidden", !visible); } }

  function syncKeyType() {
    var chosen = document.querySelector("input[name=key_type]:checked");
    var partner = chosen && chosen.value === "partner";
    var secret = document.getElementById("field-client_secret");
    show(secret, !partner);
    show(document.getElementById("partner-note"), partner);
    if (partner) { var input = document.getElementById("id_client_secret"); if (input) { input.value = ""; } }
  }

  function syncExpiry() {
    var chosen = document.querySelector("input[name=expiry]:checked");
    var value = chosen ? chosen.value : "";
    show(document.getElementById("field-created_on"), value !== "exact" && value !== "none");
    show(document.getElementById("field-expires_on"), value === "exact");
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "key_type") { syncKeyType(); }
    if (event.target.name === "expiry") { syncExpiry(); }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button && navigator.clipboard) {
      navigator.clipboard.writeText(button.getAttribute("data-copy"));
      button.textContent = "Copied";
    }
  });
  if (document.querySelector("input[name=key_type]")) { syncKeyType(); }
  if (document.querySelector("input[name=expiry]")) { syncExpiry(); }
})();
