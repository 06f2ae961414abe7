// curate report: pages, sortable tables, sample filters and what-if sliders. No library; every number
// the page shows is already in it (the script only moves between them).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function show(id) {
    var pages = document.querySelectorAll("section.page");
    var target = document.getElementById(id) || pages[0];
    window.scrollTo(0, 0);
    pages.forEach(function (p) { p.classList.toggle("current", p === target); });
    document.querySelectorAll("nav a").forEach(function (a) {
      a.classList.toggle("current", a.getAttribute("href") === "#" + target.id);
    });
  }
  window.addEventListener("hashchange", function () { show(location.hash.slice(1)); });
  show(location.hash.slice(1));

  // sortable tables: a header click sorts by that column (numbers by data-v, else text)
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      th.classList.add("sortable");
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var up = th.dataset.order !== "up";
        th.dataset.order = up ? "up" : "down";
        rows.sort(function (a, b) {
          var x = a.cells[column], y = b.cells[column];
          if (!x || !y) return 0;
          var p = x.dataset.v, q = y.dataset.v;
          var c = (p !== undefined && q !== undefined) ? (parseFloat(p) - parseFloat(q)) : x.textContent.localeCompare(y.textContent);
          return up ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // samples: show one reason's
  document.querySelectorAll("select.reason-filter").forEach(function (select) {
    select.addEventListener("change", function () {
      var scope = document.getElementById(select.dataset.scope);
      scope.querySelectorAll(".sample").forEach(function (s) {
        s.hidden = select.value !== "" && s.dataset.reason !== select.value;
      });
    });
  });

  // what-if: a slider over the bound's candidate values; the count kept is the server's, exact
  function fmt(n) { return n.toLocaleString("en-US"); }
  document.querySelectorAll(".whatif").forEach(function (box) {
    var values = JSON.parse(box.dataset.values), kept = JSON.parse(box.dataset.kept);
    var current = parseInt(box.dataset.current, 10), records = parseInt(box.dataset.records, 10);
    var slider = box.querySelector("input"), out = box.querySelector("output");
    var svg = box.closest(".score-view").querySelector("svg.histogram");
    var line = svg && svg.querySelector(".whatif-line");
    function update() {
      var i = parseInt(slider.value, 10), delta = kept[i] - kept[current];
      out.textContent = box.dataset.bound + " " + values[i] + ": keeps " + fmt(kept[i]) + " of " + fmt(records) +
        " (" + (delta === 0 ? "as run" : (delta > 0 ? "+" : "−") + fmt(Math.abs(delta)) + " vs the run") + ")";
      if (line) {
        var x0 = parseFloat(svg.dataset.x0), x1 = parseFloat(svg.dataset.x1);
        var left = parseFloat(svg.dataset.left), right = parseFloat(svg.dataset.right);
        var v = Math.min(Math.max(values[i], x0), x1);
        var x = left + (x1 > x0 ? (v - x0) / (x1 - x0) : 0) * (right - left);
        line.setAttribute("x1", x); line.setAttribute("x2", x);
        line.setAttribute("visibility", i === current ? "hidden" : "visible");
      }
      box.dataset.shown = String(kept[i]);
      var rerun = box.querySelector(".rerun");
      if (rerun) rerun.textContent = (box.dataset.set && i !== current) ? "--set " + box.dataset.set + "=" + values[i] : "";
    }
    slider.addEventListener("input", update);
    update();
  });
})();
