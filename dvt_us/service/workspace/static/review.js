/* The findings form of the review and adjudication pages: overrides need a reason, save, sign, amend, keys.
   Every call sends the session's CSRF token (meta csrf-token) as X-CSRF-Token; the server decides. */
(function () {
  "use strict";
  const form = document.getElementById("read-form");
  if (!form) {
    return;
  }
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const message = document.getElementById("read-message");
  const editable = form.dataset.signed !== "true";

  function say(text, isError) {
    if (!message) {
      return;
    }
    message.textContent = text;
    message.hidden = !text;
    message.classList.toggle("error", Boolean(isError));
  }

  function call(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.detail || response.statusText);
        }
        return data;
      });
    });
  }

  function currentValue(row) {
    const input = row.querySelector(".finding-value");
    if (input.tagName === "SELECT") {
      return JSON.parse(input.value);
    }
    if (input.value === input.defaultValue) {
      return JSON.parse(row.dataset.reader); // shown rounded; unchanged means the exact value
    }
    return input.value.trim() === "" ? null : Number(input.value);
  }

  function same(a, b) {
    return a === b || (typeof a === "number" && typeof b === "number" && Math.abs(a - b) < 1e-9);
  }

  function refresh(row) {
    const overridden = !same(currentValue(row), JSON.parse(row.dataset.model));
    const reason = row.querySelector(".finding-reason");
    const hint = row.querySelector(".reason-hint");
    row.classList.toggle("overridden", overridden);
    reason.required = overridden;
    const missing = overridden && reason.value.trim() === "";
    reason.classList.toggle("missing", missing);
    hint.hidden = !missing;
  }

  const rows = Array.from(form.querySelectorAll("tr.finding")).filter(function (r) {
    return r.querySelector(".finding-value");
  });
  rows.forEach(function (row) {
    refresh(row);
    row.querySelectorAll("select, input").forEach(function (el) {
      el.addEventListener("input", function () { refresh(row); });
      el.addEventListener("change", function () { refresh(row); });
    });
  });

  function edits() {
    const findings = [];
    rows.forEach(function (row) {
      const value = currentValue(row);
      const reason = row.querySelector(".finding-reason").value.trim();
      if (!same(value, JSON.parse(row.dataset.reader)) || reason !== (row.dataset.reason || "")) {
        findings.push({ segment_key: row.dataset.key, field: row.dataset.field, value: value, reason: reason || null });
      }
    });
    const clips = [];
    form.querySelectorAll("tr.clip-assignment").forEach(function (row) {
      const side = row.querySelector(".clip-side").value;
      const segment = row.querySelector(".clip-segment").value;
      const reason = row.querySelector(".clip-reason").value.trim();
      if (side !== row.dataset.side || segment !== row.dataset.segment || reason !== (row.dataset.reason || "")) {
        clips.push({ sop_instance_uid: row.dataset.sop, side: side, segment: segment, reason: reason || null });
      }
    });
    return { findings: findings, clips: clips };
  }

  const saveButton = document.getElementById("save-button");
  function save() {
    if (!saveButton || !editable) {
      return;
    }
    const body = edits();
    if (!body.findings.length && !body.clips.length) {
      say("Nothing to save: no field was changed.", false);
      return;
    }
    say("Saving…", false);
    call(saveButton.dataset.url, body).then(function () {
      window.location.reload();
    }, function (error) {
      say("Not saved: " + error.message, true);
    });
  }
  if (saveButton) {
    saveButton.addEventListener("click", save);
  }

  const dialog = document.getElementById("sign-dialog");
  const signOpen = document.getElementById("sign-open");
  if (dialog && signOpen) {
    const password = document.getElementById("sign-password");
    const signMessage = dialog.querySelector(".sign-message");
    signOpen.addEventListener("click", function () {
      const pending = edits();
      if (pending.findings.length || pending.clips.length) {
        say("Save your changes before signing.", true);
        return;
      }
      dialog.hidden = false;
      password.value = "";
      password.focus();
    });
    document.getElementById("sign-cancel").addEventListener("click", function () { dialog.hidden = true; });
    document.getElementById("sign-button").addEventListener("click", function () {
      signMessage.hidden = true;
      call(this.dataset.url, { password: password.value, meaning: document.getElementById("sign-meaning").value })
        .then(function () {
          window.location.reload();
        }, function (error) {
          signMessage.textContent = error.message;
          signMessage.hidden = false;
        });
    });
  }

  const amend = document.getElementById("amend-button");
  if (amend) {
    amend.addEventListener("click", function () {
      call(amend.dataset.url, { reason: document.getElementById("amend-reason").value }).then(function () {
        window.location.reload();
      }, function (error) {
        say("Not amended: " + error.message, true);
      });
    });
  }

  const segments = Array.from(form.querySelectorAll(".segment-findings"));
  let current = -1;
  function goTo(index) {
    if (!segments.length) {
      return;
    }
    current = ((index % segments.length) + segments.length) % segments.length;
    segments.forEach(function (s, i) { s.classList.toggle("current", i === current); });
    segments[current].scrollIntoView({ block: "nearest" });
    form.dataset.segment = segments[current].dataset.key;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || window.dvtusKeys.typing(event.target) || (dialog && !dialog.hidden)) {
      return;
    }
    let handled = true;
    if (event.key === "n" || event.key === "N") {
      goTo(current + 1);
    } else if (event.key === "p" || event.key === "P") {
      goTo(current - 1);
    } else if ((event.key === "s" || event.key === "S") && saveButton) {
      save();
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });
})();
