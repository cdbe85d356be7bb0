/* The audit page: verify the hash chain (POST, with the session's CSRF token) and show the result. */
(function () {
  "use strict";
  const button = document.getElementById("verify-chain");
  const result = document.getElementById("chain-result");
  if (!button || !result) {
    return;
  }
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  button.addEventListener("click", function () {
    fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.detail || response.statusText);
        }
        return data;
      });
    }).then(function (data) {
      result.dataset.intact = String(data.intact);
      result.classList.toggle("broken", !data.intact);
      result.textContent = data.intact
        ? "Intact: all " + data.entries + " entries check out (verified " + data.verified_at + ")."
        : "Broken at entry " + data.first_broken_seq + ": " + data.problem;
      result.hidden = false;
    }, function (error) {
      result.dataset.intact = "error";
      result.textContent = "Not verified: " + error.message;
      result.hidden = false;
    });
  });
})();
