// hookledger console: small progressive enhancements; every page works without this file.
// Served from /console/assets/console.js (the Content-Security-Policy allows no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // History: the slider picks a version of the webhook; letting go of it shows that version.
  const slider = document.getElementById("asof-slider");
  const select = document.getElementById("asof-select");
  const form = document.getElementById("asof-form");
  if (slider && select && form) {
    const sync = () => { select.selectedIndex = Number(slider.value); };
    slider.addEventListener("input", sync);
    slider.addEventListener("change", () => { sync(); form.submit(); });
    select.addEventListener("change", () => { slider.value = String(select.selectedIndex); form.submit(); });
  }

  // Confirm before rotating a secret (the old one stops signing after the grace period).
  const rotate = document.getElementById("rotate");
  if (rotate) {
    rotate.form.addEventListener("submit", (event) => {
      if (!window.confirm("Rotate the signing secret? The new secret is shown once.")) event.preventDefault();
    });
  }
});
