// Tollgate UI: copy buttons and confirmations. Progressive: every page
// works without it.
"use strict";
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-copy]");
  if (!b) return;
  const el = document.getElementById(b.dataset.copy);
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(() => {
    const was = b.textContent;
    b.textContent = "Copied";
    setTimeout(() => { b.textContent = was; }, 1500);
  });
});
document.addEventListener("submit", (ev) => {
  const f = ev.target.closest("form[data-confirm]");
  if (f && !window.confirm(f.dataset.confirm)) ev.preventDefault();
});
