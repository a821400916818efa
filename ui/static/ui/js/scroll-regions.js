// A table or drawing wider than the screen scrolls inside its card. A keyboard user must be
// able to reach and scroll such a region too (WCAG 2.1.1): each one that overflows with nothing
// focusable inside takes the focus itself, named by its heading. Run at load, after htmx swaps
// content in, and when the window is resized.
(function () {
  "use strict";
  var CANDIDATES = ".card, .gsn, pre, [data-scrolls]";
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

  function overflows(el) {
    var style = getComputedStyle(el);
    var sideways = /auto|scroll/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
    var down = /auto|scroll/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1;
    return sideways || down;
  }

  function mark() {
    document.querySelectorAll(CANDIDATES).forEach(function (el) {
      var ours = el.getAttribute("data-scroll-focus") === "1";
      if (overflows(el) && (ours || !el.querySelector(FOCUSABLE))) {
        if (ours) return;
        el.setAttribute("tabindex", "0");
        el.setAttribute("data-scroll-focus", "1");
        if (!el.hasAttribute("aria-label") && !el.hasAttribute("aria-labelledby")) {
          var heading = el.querySelector("h1, h2, h3, h4, caption");
          el.setAttribute("aria-label", heading ? heading.textContent.trim() : "Scrollable content");
        }
        if (!el.hasAttribute("role") && el.tagName !== "SECTION") el.setAttribute("role", "region");
      } else if (ours) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-scroll-focus");
      }
    });
  }

  var pending = null;
  function later() {
    clearTimeout(pending);
    pending = setTimeout(mark, 150);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
  window.addEventListener("resize", later);
  document.addEventListener("htmx:afterSettle", later);
})();
