/* The GSN drawing made navigable: pan (drag), zoom (wheel, + and −), fit, find a node by its
 * code or text, and nodes that open their item (click, or Enter on a focused node).
 *
 * The server draws the SVG and a map of node id -> address (#gsn-links); without JavaScript
 * the drawing scrolls as a plain image and the links below it still lead to its parts. Pan and
 * zoom only change the SVG's viewBox, so the drawing stays sharp at any scale.
 */
(function () {
  "use strict";

  var ZOOM = 1.25;

  function start() {
    var box = document.querySelector("[data-gsn-drawing]");
    var svg = box && box.querySelector("svg");
    if (!svg) return;
    var tools = document.querySelector(".gsn-tools");
    var links = JSON.parse((document.getElementById("gsn-links") || {}).textContent || "{}");
    var full = svg.viewBox.baseVal;
    var home = { x: full.x, y: full.y, w: full.width, h: full.height };
    var view = Object.assign({}, home);

    box.classList.add("interactive");
    if (tools) tools.hidden = false;
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");

    function show() {
      svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
      svg.dataset.zoom = (home.w / view.w).toFixed(3);
    }

    function zoom(factor, cx, cy) {
      var w = view.w / factor;
      var h = view.h / factor;
      if (w < home.w / 40 || w > home.w * 4) return;
      cx = cx === undefined ? view.x + view.w / 2 : cx;
      cy = cy === undefined ? view.y + view.h / 2 : cy;
      view = {
        x: cx - ((cx - view.x) * w) / view.w,
        y: cy - ((cy - view.y) * h) / view.h,
        w: w,
        h: h,
      };
      show();
    }

    function fit() {
      view = Object.assign({}, home);
      show();
    }

    function toDrawing(event) {
      var point = svg.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      return point.matrixTransform(svg.getScreenCTM().inverse());
    }

    function centre(node) {
      var b = node.getBBox();
      var w = Math.min(home.w, Math.max(b.width * 6, home.w / 8));
      var h = (w * view.h) / view.w;
      view = { x: b.x + b.width / 2 - w / 2, y: b.y + b.height / 2 - h / 2, w: w, h: h };
      show();
    }

    // Pan by dragging: the distance moved on screen, converted to drawing units.
    var drag = null;
    box.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, view: Object.assign({}, view), moved: false };
      box.setPointerCapture(event.pointerId);
    });
    box.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var scale = view.w / box.clientWidth;
      var dx = event.clientX - drag.x;
      var dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) {
        drag.moved = true;
        box.classList.add("panning");
      }
      view.x = drag.view.x - dx * scale;
      view.y = drag.view.y - dy * scale;
      show();
    });
    function endDrag(event) {
      if (!drag) return;
      var moved = drag.moved;
      drag = null;
      box.classList.remove("panning");
      if (!moved && event.type === "pointerup") {
        var node = document.elementFromPoint(event.clientX, event.clientY);
        node = node && node.closest(".gsn-node[data-href]");
        if (node) window.location.assign(node.dataset.href);
      }
    }
    box.addEventListener("pointerup", endDrag);
    box.addEventListener("pointercancel", endDrag);
    box.addEventListener(
      "wheel",
      function (event) {
        event.preventDefault();
        var at = toDrawing(event);
        zoom(event.deltaY < 0 ? ZOOM : 1 / ZOOM, at.x, at.y);
      },
      { passive: false }
    );

    // Nodes that lead somewhere are links for the keyboard and for assistive technology.
    svg.querySelectorAll(".gsn-node").forEach(function (node) {
      var href = links[node.dataset.node];
      if (!href) return;
      node.dataset.href = href;
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "link");
      var title = node.querySelector("title");
      if (title) node.setAttribute("aria-label", title.textContent);
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter") window.location.assign(href);
      });
    });

    // Find: every node whose code or text holds the words; Enter goes to the next one.
    var search = document.getElementById("gsn-search");
    var found = tools && tools.querySelector("[data-gsn='found']");
    var matches = [];
    var at = -1;
    function find() {
      var words = search.value.trim().toLowerCase();
      svg.querySelectorAll(".gsn-match").forEach(function (n) {
        n.classList.remove("gsn-match");
      });
      matches = [];
      at = -1;
      if (words) {
        svg.querySelectorAll(".gsn-node").forEach(function (node) {
          var title = node.querySelector("title");
          if (title && title.textContent.toLowerCase().indexOf(words) !== -1) {
            node.classList.add("gsn-match");
            matches.push(node);
          }
        });
      }
      if (found) found.textContent = words ? matches.length + " found" : "";
    }
    function next() {
      if (!matches.length) return;
      at = (at + 1) % matches.length;
      centre(matches[at]);
      if (found) found.textContent = at + 1 + " of " + matches.length;
    }
    if (search) {
      search.addEventListener("input", find);
      search.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          next();
        }
      });
    }

    if (tools) {
      tools.addEventListener("click", function (event) {
        var action = event.target.closest("button") && event.target.closest("button").dataset.gsn;
        if (action === "zoom-in") zoom(ZOOM);
        else if (action === "zoom-out") zoom(1 / ZOOM);
        else if (action === "fit") fit();
      });
    }
    show();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
