/**
 * The HTML report's own script, run by the browser: reads the report's data from the JSON block and
 * builds the page — text only through textContent, never through markup — and draws the charts with
 * uPlot (inlined beside it) and the memory map on a canvas.
 *
 * Plain ES2019 for any browser, kept as a string so every build of rstmem ships it as it is; it has no
 * template literals, so String.raw leaves it untouched. The browser test (test/report/html-browser)
 * runs it in Chromium.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("rstmem-data").textContent);
  var runs = data.runs;
  var PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) {
    parent.appendChild(child);
    return child;
  }
  function section(title, note) {
    var s = add(document.getElementById("report"), el("section"));
    add(s, el("h2", null, title));
    if (note) add(s, el("p", "note", note));
    return s;
  }
  function mib(bytes) {
    return bytes / 1048576;
  }
  function fmtNs(ns) {
    if (ns >= 1e9) return (ns / 1e9).toFixed(3) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(3) + " ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(3) + " \u00b5s";
    return ns + " ns";
  }
  function fmtBytes(b) {
    if (b >= 1073741824) return (b / 1073741824).toFixed(2) + " GiB";
    if (b >= 1048576) return (b / 1048576).toFixed(1) + " MiB";
    if (b >= 1024) return (b / 1024).toFixed(1) + " KiB";
    return b + " B";
  }
  function width(container) {
    return Math.max(320, Math.min(900, (container.clientWidth || 900) - 8));
  }

  // ---- Header ----
  document.title = data.title + " \u2014 rstmem report";
  add(document.getElementById("report"), el("h1", null, data.title));
  var head = add(document.getElementById("report"), el("table", "runs"));
  var hr = add(add(head, el("thead")), el("tr"));
  ["run", "scenario", "file", "platform", "seed", "simulated", "result", "replay"].forEach(function (h) {
    add(hr, el("th", null, h));
  });
  var hb = add(head, el("tbody"));
  runs.forEach(function (r) {
    var tr = add(hb, el("tr"));
    add(tr, el("td", "label", r.label));
    add(tr, el("td", null, r.scenario));
    add(tr, el("td", null, r.file));
    add(tr, el("td", null, r.platform));
    add(tr, el("td", "num", r.seed));
    add(tr, el("td", "num", fmtNs(r.simTimeNs)));
    add(tr, el("td", r.passed ? "pass" : "fail", r.passed ? "PASS" : "FAIL: " + r.failure));
    add(add(tr, el("td")), el("code", null, r.replay));
  });

  // ---- Memory over time ----
  var memSec = section(
    "Memory over time",
    "Free: the buddy's free pages. Lent: what the protected-memory pool lent to the secure world. " +
      "CMA used: taken by cma_alloc(). Unmapped: linear-map bytes valid at boot and not now."
  );
  runs.forEach(function (r, i) {
    var tl = r.timeline;
    var box = add(memSec, el("div", "chart memory-chart"));
    add(box, el("h3", null, r.label));
    if (!tl) {
      add(box, el("p", "note", "no timeline in this result"));
      return;
    }
    // Time in the unit that suits the run: a replayed race is over in 1.5 ms.
    var span = tl.t.length ? tl.t[tl.t.length - 1] : 0;
    var unit = span < 1e6 ? ["µs", 1e3] : span < 1e9 ? ["ms", 1e6] : ["s", 1e9];
    var xs = [], free = [], lent = [], cma = [], unm = [];
    for (var k = 0; k < tl.t.length; k++) {
      var x = tl.t[k] / unit[1];
      // The last samples may share a time (end of run, after the exits): the later one stands.
      if (xs.length && xs[xs.length - 1] === x) {
        xs.pop(); free.pop(); lent.pop(); cma.pop(); unm.pop();
      }
      xs.push(x);
      free.push(mib(tl.free[k]));
      lent.push(mib(tl.lent[k]));
      cma.push(mib(tl.cmaUsed[k]));
      unm.push(mib(tl.unmapped[k]));
    }
    // Sampled where memory changed too: each sample holds until the next, so steps, not slopes.
    var paths = tl.changes ? uPlot.paths.stepped({ align: 1 }) : undefined;
    new uPlot(
      {
        width: width(memSec),
        height: 260,
        scales: { x: { time: false }, free: { auto: true } },
        axes: [
          { label: "virtual time (" + unit[0] + ")" },
          { label: "MiB lent, CMA used, unmapped", size: 70 },
          { scale: "free", side: 1, label: "MiB free", size: 70, grid: { show: false } }
        ],
        series: [
          { label: "t (" + unit[0] + ")" },
          { label: "free", stroke: "#2e7d32", width: 2, scale: "free", paths: paths },
          { label: "lent", stroke: "#c62828", width: 2, paths: paths },
          { label: "CMA used", stroke: "#ef6c00", width: 2, paths: paths },
          { label: "unmapped", stroke: "#37474f", width: 1, dash: [4, 4], paths: paths }
        ]
      },
      [xs, free, lent, cma, unm],
      box
    );
  });

  // ---- Latency CDF ----
  var cdfSec = section(
    "Allocation latency (CDF)",
    "Per policy and workload: every buffer allocation (solid) and each session's first frame (dashed). " +
      "Log scale."
  );
  var tables = [], cdfSeries = [{ label: "latency (ms)" }];
  function cdfTable(values) {
    var xs = [], ys = [];
    for (var k = 0; k < values.length; k++) {
      var x = Math.max(values[k], 1) / 1e6;
      var y = (k + 1) / values.length;
      if (xs.length && xs[xs.length - 1] === x) ys[ys.length - 1] = y;
      else {
        xs.push(x);
        ys.push(y);
      }
    }
    return [xs, ys];
  }
  runs.forEach(function (r, i) {
    var color = PALETTE[i % PALETTE.length];
    r.latency.forEach(function (w) {
      if (w.all.length) {
        tables.push(cdfTable(w.all));
        cdfSeries.push({ label: r.label + " " + w.name, stroke: color, width: 2, spanGaps: true });
      }
      if (w.first.length) {
        tables.push(cdfTable(w.first));
        cdfSeries.push({
          label: r.label + " " + w.name + " first frame",
          stroke: color,
          width: 2,
          dash: [6, 4],
          spanGaps: true,
          points: { show: true }
        });
      }
    });
  });
  var cdfBox = add(cdfSec, el("div", "chart cdf-chart"));
  if (tables.length === 0) add(cdfBox, el("p", "note", "no workload allocated a buffer"));
  else
    new uPlot(
      {
        width: width(cdfSec),
        height: 300,
        scales: { x: { time: false, distr: 3 }, y: { range: [0, 1] } },
        axes: [{ label: "allocation latency (ms)" }, { label: "fraction" }],
        series: cdfSeries
      },
      uPlot.join(tables),
      cdfBox
    );

  // ---- Comparison bars ----
  var barSec = section("Runs side by side");
  var bars = add(barSec, el("div", "bars"));
  var names = runs.map(function (r) {
    return r.label;
  });
  data.metrics.forEach(function (m) {
    var box = add(bars, el("div", "chart bar-chart"));
    add(box, el("h3", null, m.label));
    var xs = runs.map(function (_, i) {
      return i;
    });
    var ys = runs.map(function (r) {
      return r.metrics[m.key];
    });
    // A bar of 0 would say "no latency"; a run without the measure (no workload) has none to show.
    if (ys.every(function (v) { return v === null; })) {
      add(box, el("p", "note", "no run measured it (no workload made a first frame)"));
      return;
    }
    new uPlot(
      {
        width: 280,
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: false, range: [-0.5, runs.length - 0.5] },
          y: {
            range: function (u, lo, hi) {
              return [0, hi > 0 ? hi * 1.15 : 1];
            }
          }
        },
        axes: [
          {
            splits: function () {
              return xs;
            },
            values: function (u, splits) {
              return splits.map(function (s) {
                return names[s] === undefined ? "" : names[s];
              });
            },
            grid: { show: false }
          },
          { size: 60 }
        ],
        series: [
          {},
          {
            label: m.label,
            fill: "#1565c0",
            stroke: "#0d47a1",
            width: 1,
            paths: uPlot.paths.bars({ size: [0.6, 80] })
          }
        ]
      },
      [xs, ys],
      box
    );
    var vals = add(box, el("p", "values"));
    runs.forEach(function (r, i) {
      var v = r.metrics[m.key];
      var shown = v === null ? "none" : m.unit === "" ? String(v) : v.toFixed(m.digits) + " " + m.unit;
      add(vals, el("span", null, r.label + ": " + shown));
    });
  });

  // ---- Memory map ----
  var mapSec = section(
    "Physical memory map",
    "DRAM as a grid of bins, each coloured by what its pages are; a bin shows the most important state " +
      "any of its probed pages is in (lent, unmapped, CMA used, carveout), else what most of them are. " +
      "Move the slider through the samples."
  );
  var legend = add(mapSec, el("div", "legend"));
  data.states.forEach(function (s, i) {
    var item = add(legend, el("span", "legend-item"));
    var sw = add(item, el("span", "swatch"));
    sw.style.background = data.colors[i];
    add(item, el("span", null, data.stateLabels[i]));
  });
  runs.forEach(function (r) {
    var tl = r.timeline;
    var box = add(mapSec, el("div", "map"));
    add(box, el("h3", null, r.label));
    if (!tl) {
      add(box, el("p", "note", "no timeline in this result"));
      return;
    }
    var cols = tl.cols, rows = Math.ceil(tl.bins / cols), cell = Math.max(3, Math.floor(896 / cols));
    var canvas = add(box, el("canvas", "map-canvas"));
    canvas.width = cols * cell;
    canvas.height = rows * cell;
    var controls = add(box, el("div", "map-controls"));
    var slider = add(controls, el("input", "map-slider"));
    slider.type = "range";
    slider.min = "0";
    slider.max = String(tl.maps.length - 1);
    slider.step = "1";
    slider.value = "0";
    var label = add(controls, el("span", "map-time"));
    var regions = add(box, el("p", "note"));
    regions.textContent =
      "DRAM " + fmtBytes(tl.dramBytes) + " at 0x" + tl.dramBase.toString(16) + ", " + tl.bins + " bins of " +
      fmtBytes(tl.binBytes) + ". " +
      tl.regions
        .map(function (g) {
          return g.kind + " " + g.name + ": bins " + g.firstBin + "\u2013" + (g.endBin - 1);
        })
        .join("; ");
    var ctx = canvas.getContext("2d");
    function decode(map) {
      var out = new Uint8Array(tl.bins), at = 0, re = /([a-z])(\d*)/g, m;
      while ((m = re.exec(map)) !== null) {
        var n = m[2] === "" ? 1 : Number(m[2]);
        out.fill(m[1].charCodeAt(0) - 97, at, at + n);
        at += n;
      }
      return out;
    }
    function draw(i) {
      var codes = decode(tl.maps[i]);
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      for (var b = 0; b < codes.length; b++) {
        ctx.fillStyle = data.colors[codes[b]];
        ctx.fillRect((b % cols) * cell, Math.floor(b / cols) * cell, cell - 1, cell - 1);
      }
      var last = i === tl.maps.length - 1;
      label.textContent =
        "t = " + fmtNs(tl.t[i]) + (last ? " (after every process exited)" : "") +
        " \u2014 sample " + (i + 1) + " of " + tl.maps.length;
    }
    slider.addEventListener("input", function () {
      draw(Number(slider.value));
    });
    draw(0);
  });

  // ---- Findings ----
  var fSec = section(
    "Findings",
    "Each finding with the virtual time it was reported; the command replays its run exactly."
  );
  runs.forEach(function (r) {
    var box = add(fSec, el("div", "findings"));
    add(box, el("h3", null, r.label));
    var counts = Object.keys(r.findings).filter(function (id) {
      return r.findings[id] > 0;
    });
    if (counts.length === 0) {
      add(box, el("p", "clean", "No findings."));
      return;
    }
    add(
      box,
      el(
        "p",
        null,
        counts
          .map(function (id) {
            return id + " \u00d7" + r.findings[id];
          })
          .join(", ")
      )
    );
    var t = add(box, el("table", "finding-table"));
    var h = add(add(t, el("thead")), el("tr"));
    ["time", "invariant", "task", "what", "replay"].forEach(function (x) {
      add(h, el("th", null, x));
    });
    var tb = add(t, el("tbody"));
    r.details.forEach(function (f) {
      var tr = add(tb, el("tr"));
      add(tr, el("td", "num", fmtNs(f.t)));
      add(tr, el("td", null, f.id));
      add(tr, el("td", null, f.task));
      add(tr, el("td", null, f.message));
      add(add(tr, el("td")), el("code", null, r.replay));
    });
    var shown = r.details.length, total = 0;
    counts.forEach(function (id) {
      total += r.findings[id];
    });
    if (shown < total)
      add(box, el("p", "note", "The first " + shown + " of " + total + " findings are listed (the run keeps the first of each invariant)."));
  });
  // ---- Story (rstmem replay --html) ----
  var told = runs.filter(function (r) {
    return r.story;
  });
  if (told.length > 0) {
    var sSec = section(
      "The run, event by event",
      "What rstmem replay prints: each event with its virtual time, task, layer, call and what it touched. " +
        "The boot (the drivers' probe, the same in every run of the scenario) is folded unless a fault " +
        "struck there. Type to keep the events whose line holds the text."
    );
    var filter = add(sSec, el("input", "story-filter"));
    filter.type = "search";
    filter.placeholder = "filter: a task, a call, an address…";
    var bodies = [];
    var storyTable = function (box, s, whole) {
      var t = add(box, el("table", "story-table"));
      var h = add(add(t, el("thead")), el("tr"));
      ["time", "task", "layer", "call", "what"].forEach(function (x) {
        add(h, el("th", null, x));
      });
      var tb = add(t, el("tbody"));
      for (var i = 0; i < s.t.length; i++) {
        var tr = add(tb, el("tr"));
        add(tr, el("td", "num", fmtNs(s.t[i])));
        add(tr, el("td", null, s.task[i]));
        add(tr, el("td", null, s.layer[i]));
        add(tr, el("td", null, s.call[i]));
        add(tr, el("td", "what", s.what[i]));
      }
      bodies.push(tb);
      if (!whole && s.t.length < s.total)
        add(box, el("p", "note", "The first " + s.t.length + " of " + s.total + " events are shown."));
    };
    told.forEach(function (r) {
      var box = add(sSec, el("div", "story"));
      add(box, el("h3", null, r.label));
      var boot = add(box, el("details", "story-boot"));
      boot.open = r.story.bootOpen;
      add(boot, el("summary", null, "Boot: " + r.story.boot.total + " events"));
      storyTable(boot, r.story.boot);
      add(box, el("p", null, "Run: " + r.story.run.total + " events"));
      var more = r.story.more || [];
      storyTable(box, r.story.run, more.length > 0);
      // A long story: the events around the finding the violation is about, and the last ones, each
      // after a line that says how many were skipped (as rstmem replay prints them).
      more.forEach(function (p) {
        if (p.skipped > 0) add(box, el("p", "note", "… " + p.skipped + " events not shown …"));
        if (p.heading) add(box, el("p", null, p.heading));
        storyTable(box, p, true);
      });
    });
    filter.addEventListener("input", function () {
      var want = filter.value.toLowerCase();
      bodies.forEach(function (tb) {
        for (var i = 0; i < tb.rows.length; i++) {
          var row = tb.rows[i];
          row.style.display = want === "" || row.textContent.toLowerCase().indexOf(want) >= 0 ? "" : "none";
        }
      });
    });
  }

  document.body.setAttribute("data-ready", "1");
})();
`;
