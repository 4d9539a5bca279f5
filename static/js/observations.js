// The pilot data page: a run chart that follows the quick-entry grid as one types,
// and the upload form's progress bar and size check. Loaded on that page only.
"use strict";

(function () {
  const COLOURS = ["#0b4f71", "#a4262c"];

  // A typed number, as the grid takes it: one comma or point as decimal mark, spaces
  // as thousands separators. Anything else is a gap in the chart (the server says why).
  function parse(text) {
    const cleaned = (text || "").replace(/[\s\u00a0\u202f]/g, "").replace("\u2212", "-");
    if (!cleaned) {
      return null;
    }
    if (!/^-?[0-9]+([.,][0-9]+)?$/.test(cleaned)) {
      return null;
    }
    return parseFloat(cleaned.replace(",", "."));
  }

  function cell(form, row, arm, part) {
    return form.querySelector(
      'input[data-row="' + row + '"][data-arm="' + arm + '"][data-part="' + part + '"]'
    );
  }

  function series(form, config) {
    return config.arms.map(function (arm) {
      return config.labels.map(function (_label, row) {
        const valueInput = cell(form, row, arm.arm, "v");
        let value = valueInput ? parse(valueInput.value) : null;
        if (config.counted && value !== null) {
          const nInput = cell(form, row, arm.arm, "n");
          const n = nInput ? parse(nInput.value) : null;
          if (n !== null) {
            value = n > 0 ? value / (n / (config.per || 1)) : null;
          } else if (!config.percent) {
            // A rate without n counts n = 1, as the results do; one shown per an amount
            // (per 100 days) needs its n, as the import says, so it is not drawn.
            value = (config.per || 1) === 1 ? value : null;
          } else if (config.percent && value !== 0 && value !== 1) {
            value = null; // a share needs its n
          }
        }
        return value;
      });
    });
  }

  // A dashed line where the pilot starts, drawn by a tiny plugin (no inline script).
  const startLine = {
    id: "pilotStart",
    afterDatasetsDraw: function (chart, _args, options) {
      if (options.index === null || options.index === undefined) {
        return;
      }
      const x = chart.scales.x.getPixelForValue(options.index);
      const area = chart.chartArea;
      const context = chart.ctx;
      context.save();
      context.strokeStyle = "#4a5460";
      context.setLineDash([4, 4]);
      context.beginPath();
      context.moveTo(x, area.top);
      context.lineTo(x, area.bottom);
      context.stroke();
      context.fillStyle = "#4a5460";
      context.fillText(options.label, x + 4, area.top + 10);
      context.restore();
    },
  };

  // The chart and its settings sit beside the grid, outside what htmx swaps (htmx drops
  // <script> blocks from responses); a grid that comes back from the server is bound to
  // the same chart and redraws it.
  function makeChart(section) {
    const canvas = section.querySelector("canvas.entry-chart");
    const source = section.querySelector("script.chart-data");
    if (!canvas || !source || typeof Chart === "undefined") {
      return null;
    }
    const existing = Chart.getChart(canvas);
    if (existing) {
      return existing;
    }
    const config = JSON.parse(source.textContent);
    const chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: config.labels,
        datasets: config.arms.map(function (arm, i) {
          return {
            label: arm.label,
            data: config.labels.map(function () {
              return null;
            }),
            borderColor: COLOURS[i],
            backgroundColor: COLOURS[i],
            tension: 0,
            pointRadius: 3,
            spanGaps: false,
          };
        }),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: config.arms.length > 1 },
          title: { display: true, text: config.title },
          pilotStart: { index: config.start, label: config.start_label },
        },
        scales: { x: { ticks: { maxRotation: 60, autoSkip: true } } },
      },
      plugins: [startLine],
    });
    chart.$grid = config;
    return chart;
  }

  function redraw(chart, form) {
    const next = series(form, chart.$grid);
    chart.data.datasets.forEach(function (dataset, i) {
      dataset.data = next[i];
    });
    chart.update("none");
  }

  function bind(section) {
    const chart = makeChart(section);
    const form = section.querySelector("form.entry-form");
    if (!chart || !form || form.dataset.ready) {
      return;
    }
    form.dataset.ready = "1";
    redraw(chart, form);
    form.addEventListener("input", function (event) {
      if (event.target.matches("input[data-part]")) {
        redraw(chart, form);
      }
    });
  }

  function init(root) {
    root.querySelectorAll(".entry-section").forEach(bind);
  }

  // -- the upload form -----------------------------------------------------------------

  function showUploadError(form, message) {
    const error = form.querySelector("#upload-file-error");
    const input = form.querySelector("input[type=file]");
    if (error) {
      error.textContent = message;
    }
    if (input) {
      input.setAttribute("aria-invalid", message ? "true" : "false");
    }
  }

  function tooLarge(form) {
    const input = form.querySelector("input[type=file]");
    const limit = parseInt(form.dataset.maxBytes || "0", 10);
    const file = input && input.files && input.files[0];
    return Boolean(file && limit && file.size > limit);
  }

  document.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("form.upload-form");
    if (form && event.target.type === "file") {
      showUploadError(form, tooLarge(form) ? form.dataset.tooLarge : "");
    }
  });

  // Refuse an oversized file before sending it; the server would answer 413 anyway.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.target.closest && event.target.closest("form.upload-form");
    if (form && tooLarge(form)) {
      event.preventDefault();
      showUploadError(form, form.dataset.tooLarge);
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    const form = event.target.closest && event.target.closest("form.upload-form");
    const bar = form && form.querySelector("progress.upload-progress");
    if (bar && event.detail.lengthComputable && event.detail.total) {
      bar.hidden = false;
      bar.value = Math.round((event.detail.loaded * 100) / event.detail.total);
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    const form = event.target.querySelector && event.target.querySelector("form.upload-form");
    if (form && event.detail.xhr.status === 413) {
      event.detail.shouldSwap = false;
      event.detail.isError = false;
      showUploadError(form, form.dataset.tooLarge);
      const bar = form.querySelector("progress.upload-progress");
      if (bar) {
        bar.hidden = true;
      }
    }
  });

  // After any swap, draw the charts of grids that came in (drawn ones are skipped).
  document.addEventListener("htmx:afterSettle", function () {
    init(document);
  });
  init(document);
})();
