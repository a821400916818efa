/* The requirement tree as a WAI-ARIA tree (https://www.w3.org/WAI/ARIA/apg/patterns/treeview/).
 *
 * The server renders plain lists of links that work without JavaScript (a node's toggle opens
 * the paged list of its children). This file upgrades every <ul data-tree>: roles and levels,
 * one item in the tab order, children fetched from the node's data-children fragment when it is
 * expanded, "more" rows fetched in place, and the keyboard of the pattern: Up/Down, Right
 * (expand, then first child), Left (collapse, then parent), Home/End, Enter opens the item.
 */
(function () {
  "use strict";

  function items(list) {
    return Array.prototype.filter.call(list.children, function (el) {
      return el.tagName === "LI";
    });
  }

  function upgrade(list, level) {
    items(list).forEach(function (li) {
      li.setAttribute("role", "treeitem");
      li.setAttribute("aria-level", String(level));
      if (!li.hasAttribute("tabindex")) li.tabIndex = -1;
      if (li.dataset.children && !li.hasAttribute("aria-expanded")) {
        li.setAttribute("aria-expanded", "false");
      }
      li.querySelectorAll(":scope > .row a").forEach(function (a) {
        a.tabIndex = -1;
      });
      var toggle = li.querySelector(":scope > .row > .toggle");
      if (toggle) toggle.setAttribute("aria-hidden", "true");
      var group = li.querySelector(":scope > ul");
      if (group) {
        group.setAttribute("role", "group");
        upgrade(group, level + 1);
      }
    });
  }

  function parentItem(li) {
    var up = li.parentElement && li.parentElement.closest("li[role='treeitem']");
    return up || null;
  }

  function visible(tree) {
    return Array.prototype.filter.call(tree.querySelectorAll("li[role='treeitem']"), function (li) {
      for (var p = parentItem(li); p; p = parentItem(p)) {
        if (p.getAttribute("aria-expanded") !== "true") return false;
      }
      return true;
    });
  }

  function focus(tree, li) {
    if (!li) return;
    tree.querySelectorAll("li[role='treeitem'][tabindex='0']").forEach(function (el) {
      el.tabIndex = -1;
    });
    li.tabIndex = 0;
    li.focus();
  }

  function fetchRows(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.text();
      });
  }

  function expand(tree, li) {
    if (!li.dataset.children || li.getAttribute("aria-expanded") === "true") return Promise.resolve();
    var group = li.querySelector(":scope > ul");
    if (group) {
      group.hidden = false;
      li.setAttribute("aria-expanded", "true");
      return Promise.resolve();
    }
    li.setAttribute("aria-busy", "true");
    return fetchRows(li.dataset.children)
      .then(function (html) {
        group = document.createElement("ul");
        group.setAttribute("role", "group");
        group.innerHTML = html;
        li.appendChild(group);
        upgrade(group, Number(li.getAttribute("aria-level")) + 1);
        li.setAttribute("aria-expanded", "true");
      })
      .catch(function () {
        window.location.assign(li.querySelector(":scope > .row > .toggle").href);
      })
      .finally(function () {
        li.removeAttribute("aria-busy");
      });
  }

  function collapse(li) {
    var group = li.querySelector(":scope > ul");
    if (group) group.hidden = true;
    li.setAttribute("aria-expanded", "false");
  }

  function more(tree, li) {
    var list = li.parentElement;
    var level = Number(li.getAttribute("aria-level"));
    li.setAttribute("aria-busy", "true");
    return fetchRows(li.dataset.more).then(function (html) {
      var holder = document.createElement("ul");
      holder.innerHTML = html;
      upgrade(holder, level);
      var added = items(holder);
      added.forEach(function (el) {
        list.insertBefore(el, li);
      });
      list.removeChild(li);
      focus(tree, added[0]);
    });
  }

  function open(tree, li) {
    if (li.dataset.more) return more(tree, li);
    var link = li.querySelector(":scope > .row > a.item");
    if (link) window.location.assign(link.href);
  }

  function onKey(tree, event) {
    var li = event.target.closest("li[role='treeitem']");
    if (!li || event.altKey || event.ctrlKey || event.metaKey) return;
    var shown = visible(tree);
    var at = shown.indexOf(li);
    var expanded = li.getAttribute("aria-expanded");
    switch (event.key) {
      case "ArrowDown":
        focus(tree, shown[at + 1]);
        break;
      case "ArrowUp":
        focus(tree, shown[at - 1]);
        break;
      case "ArrowRight":
        if (expanded === "false") expand(tree, li);
        else if (expanded === "true") focus(tree, li.querySelector(":scope > ul > li"));
        break;
      case "ArrowLeft":
        if (expanded === "true") collapse(li);
        else focus(tree, parentItem(li));
        break;
      case "Home":
        focus(tree, shown[0]);
        break;
      case "End":
        focus(tree, shown[shown.length - 1]);
        break;
      case "Enter":
        open(tree, li);
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  function onClick(tree, event) {
    var li = event.target.closest("li[role='treeitem']");
    if (!li) return;
    if (event.target.closest(".toggle")) {
      event.preventDefault();
      if (li.getAttribute("aria-expanded") === "true") collapse(li);
      else expand(tree, li);
      focus(tree, li);
    } else if (li.dataset.more && event.target.closest("a")) {
      event.preventDefault();
      more(tree, li);
    }
  }

  function init(tree) {
    tree.setAttribute("role", "tree");
    upgrade(tree, 1);
    var first = tree.querySelector("li[role='treeitem']");
    if (first) first.tabIndex = 0;
    tree.addEventListener("keydown", function (event) {
      onKey(tree, event);
    });
    tree.addEventListener("click", function (event) {
      onClick(tree, event);
    });
  }

  function start() {
    document.querySelectorAll("ul[data-tree]").forEach(init);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
