// Small behaviours the pages need, kept out of the HTML so the CSP can forbid inline script.
"use strict";

// Ask before a destructive plain form submit (htmx forms use hx-confirm instead).
document.addEventListener("submit", function (event) {
  const button = event.submitter;
  const message = button && button.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// A page sent back with a form's errors opens at the first problem: the list of them
// when there are several, else the field at fault, or an error about a group of fields
// (focusable, tabindex -1). A long form would otherwise open at its top, the message
// far out of sight.
document.addEventListener("DOMContentLoaded", function () {
  const problem =
    document.querySelector("main form .error-summary") ||
    document.querySelector("main form [aria-invalid='true']") ||
    document.querySelector("main form .error[role='alert'][tabindex='-1']");
  if (problem) {
    problem.focus();
  }
});

// After htmx swaps in a form with errors, move focus to the first field at fault in
// what was swapped in (the event's target: for an outerHTML swap, the new element), so
// keyboard and screen-reader users land where the problem is. Only there: a swap
// elsewhere (the planning help as one types, a file's preview) must not pull the focus
// back to a fault shown earlier, away from the field being typed in.
document.addEventListener("htmx:afterSettle", function (event) {
  const swapped = event.target;
  if (!(swapped instanceof Element)) {
    return;
  }
  const invalid = swapped.matches("[aria-invalid='true']")
    ? swapped
    : swapped.querySelector("[aria-invalid='true']");
  if (invalid) {
    invalid.focus();
  }
});

// A link in a form's list of errors leads to the field itself, its label in view
// (the browser's own jump would put the field at the window's top edge, its label
// above it, and leave the focus behind).
document.addEventListener("click", function (event) {
  const link = event.target.closest(".error-summary a[href^='#']");
  const target = link && document.getElementById(link.hash.slice(1));
  if (!target) {
    return;
  }
  event.preventDefault();
  (target.closest(".field, fieldset") || target).scrollIntoView();
  target.focus({ preventScroll: true });
});

// "Evaluate now" swaps in a new results section, its own button included, and the
// focus would fall back to the top of the page: give it to the new button instead, so
// a keyboard user stays where they were (the status line above the results says what
// happened; it is a live region).
let evaluateAgain = false;
document.addEventListener("htmx:beforeRequest", function (event) {
  const form = event.detail.elt.closest(".evaluate-form");
  evaluateAgain = Boolean(form && form.contains(document.activeElement));
});
document.addEventListener("htmx:afterSettle", function () {
  if (!evaluateAgain) {
    return;
  }
  evaluateAgain = false;
  const button = document.querySelector("#results .evaluate-form button");
  if (button && (document.activeElement === document.body || !document.activeElement)) {
    button.focus();
  }
});
