// Result charts (Chart.js 4.6.1 and chartjs-plugin-annotation 3.1.0, vendored).
// Each <canvas data-chart='{json}'> gets its chart: the JSON is written by the server
// (templates/results/_chart.html) and holds numbers, codes and the reader's words.
// No inline script and no style attributes: the CSP forbids both; sizes are set
// through the CSSOM, which it allows. New canvases swapped in by htmx are drawn too.
"use strict";

(function () {
  const INK = "#1b1f24";
  const MUTED = "#4a5460";
  const LINE = "#6b7682";
  const BRAND = "#0b4f71";
  const COMPARISON = "#7a4d00";
  const IMPROVEMENT = "#0b63a5";
  const CONCERN = "#b34700";
  const SHADE = "rgba(11, 79, 113, 0.10)";
  const VERDICT = {
    improved: IMPROVEMENT,
    worsened: CONCERN,
    no_clear_change: LINE,
    insufficient_data: "#9aa3ad",
  };

  function locale() {
    return document.documentElement.lang === "nb" ? "nb-NO" : "en-GB";
  }

  function formatter(percent, digits) {
    const format = new Intl.NumberFormat(locale(), { maximumFractionDigits: digits });
    return function (value) {
      if (value === null || value === undefined) {
        return "";
      }
      return percent ? format.format(value * 100) + " %" : format.format(value);
    };
  }

  // Tick labels with as many decimals as the step between ticks needs (0,002 0,004 ...,
  // not 0 0 0,01), and tooltips with three significant digits (0,0084, 20,9, 1 235).
  function tickFormatter(percent) {
    return function (value, index, ticks) {
      const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 1;
      return formatter(percent, decimalsOf(percent ? step * 100 : step))(value);
    };
  }

  function decimalsOf(step) {
    let digits = 0;
    while (digits < 6 && Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6) {
      digits += 1;
    }
    return digits;
  }

  function readingFormatter(percent) {
    const format = new Intl.NumberFormat(locale(), { maximumSignificantDigits: 3 });
    return function (value) {
      if (value === null || value === undefined) {
        return "";
      }
      const shown = percent ? value * 100 : value;
      const text = Math.abs(shown) >= 1000 ? formatter(false, 0)(shown) : format.format(shown);
      return percent ? text + " %" : text;
    };
  }

  function verticalLine(x, colour, text, dash) {
    return {
      type: "line",
      xMin: x,
      xMax: x,
      borderColor: colour,
      borderWidth: 2,
      borderDash: dash || [6, 4],
      label: {
        display: true,
        content: text,
        position: "end",
        backgroundColor: "rgba(255, 255, 255, 0.9)",
        color: INK,
        font: { size: 11 },
      },
    };
  }

  function timeMarks(data, annotations) {
    if (data.baseline) {
      annotations.baseline = {
        type: "box",
        xMin: data.baseline[0],
        xMax: data.baseline[1],
        backgroundColor: SHADE,
        borderWidth: 0,
        label: {
          display: true,
          content: data.text.baseline,
          position: { x: "center", y: "start" },
          color: MUTED,
          font: { size: 11 },
        },
      };
    }
    if (data.start !== null && data.start !== undefined) {
      annotations.start = verticalLine(data.start, INK, data.text.start);
    }
    (data.cycles || []).forEach(function (cycle) {
      annotations["cycle-" + cycle.number] = verticalLine(
        cycle.x,
        BRAND,
        data.text.cycle.replace("{n}", cycle.number),
        [2, 3]
      );
    });
    return annotations;
  }

  // An axis that stops at `floor` (a nice step, or the room above and below the
  // points, would take it further): a value that cannot fall below it.
  function stopAt(floor) {
    return function (axis) {
      if (axis.min >= floor) return;
      axis.min = floor;
      axis.ticks = axis.ticks.filter((tick) => tick.value >= floor);
      if (!axis.ticks.length || axis.ticks[0].value > floor) axis.ticks.unshift({ value: floor });
    };
  }

  function baseOptions(data, percent) {
    const format = readingFormatter(percent);
    const options = {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      interaction: { mode: "nearest", intersect: false },
      // Room above and below the points, so the labels of the start and the cycles
      // (at the top) and the highest point never sit on the chart's edge.
      scales: { y: { grace: "10%", ticks: { callback: tickFormatter(percent) } } },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: true } },
        tooltip: {
          callbacks: {
            label: function (context) {
              const raw = context.raw;
              if (Array.isArray(raw)) {
                return context.dataset.label + ": " + format(raw[0]) + " – " + format(raw[1]);
              }
              return context.dataset.label + ": " + format(context.parsed.y);
            },
          },
        },
        annotation: { annotations: {} },
      },
    };
    // Shares and rates cannot be negative: their axis stops at 0.
    if (typeof data.floor === "number") options.scales.y.afterBuildTicks = stopAt(data.floor);
    return options;
  }

  function spc(data) {
    const options = baseOptions(data, data.percent);
    const colour = { improvement: IMPROVEMENT, concern: CONCERN };
    const style = { improvement: "triangle", concern: "rect" };
    options.plugins.annotation.annotations = timeMarks(data, {});
    return {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          {
            id: "values",
            label: data.text.value,
            data: data.values,
            borderColor: LINE,
            borderWidth: 1.5,
            pointBackgroundColor: data.variation.map((v) => colour[v] || LINE),
            pointBorderColor: data.variation.map((v) => colour[v] || LINE),
            pointStyle: data.variation.map((v) => style[v] || "circle"),
            pointRadius: data.variation.map((v) => (colour[v] ? 6 : 3)),
          },
          {
            id: "mean",
            label: data.text.mean,
            data: data.mean,
            borderColor: INK,
            borderWidth: 1,
            pointRadius: 0,
            stepped: "middle",
          },
          {
            id: "lower",
            label: data.text.lower,
            data: data.lower,
            borderColor: MUTED,
            borderDash: [6, 4],
            borderWidth: 1,
            pointRadius: 0,
            stepped: "middle",
          },
          {
            id: "upper",
            label: data.text.upper,
            data: data.upper,
            borderColor: MUTED,
            borderDash: [6, 4],
            borderWidth: 1,
            pointRadius: 0,
            stepped: "middle",
          },
        ],
      },
      options: options,
    };
  }

  function did(data) {
    const options = baseOptions(data, data.percent);
    options.plugins.annotation.annotations = timeMarks(data, {});
    return {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          {
            id: "pilot",
            label: data.text.pilot,
            data: data.pilot,
            borderColor: BRAND,
            backgroundColor: BRAND,
            pointStyle: "circle",
            pointRadius: 3,
          },
          {
            id: "comparison",
            label: data.text.comparison,
            data: data.comparison,
            borderColor: COMPARISON,
            backgroundColor: COMPARISON,
            borderDash: [5, 3],
            pointStyle: "rect",
            pointRadius: 3,
          },
        ],
      },
      options: options,
    };
  }

  function prePost(data) {
    const options = baseOptions(data, data.percent);
    options.plugins.annotation.annotations = timeMarks(data, {});
    const datasets = [
      {
        id: "values",
        label: data.text.value,
        data: data.values,
        showLine: false,
        borderColor: LINE,
        backgroundColor: LINE,
        pointRadius: 3,
      },
    ];
    if (data.fitted_pre) {
      datasets.push({
        id: "fitted_pre",
        label: data.text.fitted_pre,
        data: data.fitted_pre,
        borderColor: BRAND,
        borderWidth: 2.5,
        pointRadius: 0,
        spanGaps: false,
      });
      datasets.push({
        id: "fitted_post",
        label: data.text.fitted_post,
        data: data.fitted_post,
        borderColor: IMPROVEMENT,
        borderWidth: 2.5,
        pointRadius: 0,
        spanGaps: false,
      });
    }
    return { type: "line", data: { labels: data.labels, datasets: datasets }, options: options };
  }

  function horizontalIntervals(labels, intervals, estimates, colours, data, percent) {
    const format = readingFormatter(percent);
    return {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          {
            id: "interval",
            type: "bar",
            label: data.text.interval,
            data: intervals,
            backgroundColor: "rgba(74, 84, 96, 0.35)",
            borderColor: MUTED,
            borderWidth: 1,
            barThickness: 8,
            order: 2,
          },
          {
            id: "estimate",
            type: "line",
            label: data.text.estimate,
            data: estimates,
            showLine: false,
            pointStyle: "rectRot",
            pointRadius: 7,
            pointBackgroundColor: colours,
            pointBorderColor: colours,
            order: 1,
          },
        ],
      },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        scales: {
          x: {
            ticks: { callback: tickFormatter(percent) },
            title: { display: Boolean(data.text.axis), text: data.text.axis || "" },
          },
        },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: function (context) {
                const raw = context.raw;
                if (Array.isArray(raw)) {
                  return context.dataset.label + ": " + format(raw[0]) + " – " + format(raw[1]);
                }
                return context.dataset.label + ": " + format(context.parsed.x);
              },
            },
          },
          annotation: { annotations: {} },
        },
      },
    };
  }

  function twoGroup(data) {
    const labels = data.arms.map((a) => data.text[a.arm]);
    const config = horizontalIntervals(
      labels,
      data.arms.map((a) => [a.low, a.high]),
      data.arms.map((a) => a.estimate),
      data.arms.map((a) => (a.arm === "pilot" ? BRAND : COMPARISON)),
      data,
      data.percent
    );
    const comparison = data.arms.find((a) => a.arm === "comparison");
    if (comparison) {
      config.options.plugins.annotation.annotations.comparisonLevel = {
        type: "line",
        scaleID: "x",
        value: comparison.estimate,
        borderColor: COMPARISON,
        borderDash: [4, 4],
        borderWidth: 1,
      };
    }
    return config;
  }

  // Each label's lines broken at spaces into lines of at most `width` characters.
  function wrapped(labels, width) {
    return labels.map(function (label) {
      return (Array.isArray(label) ? label : [label]).flatMap(function (line) {
        const out = [];
        let current = "";
        String(line)
          .split(" ")
          .forEach(function (word) {
            if (current && (current + " " + word).length > width) {
              out.push(current);
              current = word;
            } else {
              current = current ? current + " " + word : word;
            }
          });
        if (current) out.push(current);
        return out;
      });
    });
  }

  function forest(data, canvas) {
    // On a phone a pilot's and its metric's names would be cut off at the chart's edge:
    // there they are broken into short lines, and the chart grows to hold them.
    const narrow = canvas.parentNode.clientWidth < 560;
    const labels = narrow ? wrapped(data.lines || data.labels, 22) : data.lines || data.labels;
    const lines = labels.reduce((sum, l) => sum + Math.max(2, Array.isArray(l) ? l.length : 1), 0);
    canvas.parentNode.style.height = Math.max(12, 5 + 1.5 * lines) + "rem";
    const percentOf = (v) => (v === null || v === undefined ? null : v / 100);
    const config = horizontalIntervals(
      labels,
      data.interval.map((i) => (i ? [percentOf(i[0]), percentOf(i[1])] : null)),
      data.estimate.map(percentOf),
      data.verdict.map((v) => VERDICT[v] || LINE),
      data,
      true
    );
    // A relative change cannot fall below -100 %: the axis stops there, though a
    // nice step would take it further (to -200 % or -1 000 % beside a large lift).
    config.options.scales.x.afterBuildTicks = stopAt(-1);
    // No label on the line itself, where it would cover a pilot's diamond: the axis
    // title says what 0 % means.
    config.options.plugins.annotation.annotations.zero = {
      type: "line",
      scaleID: "x",
      value: 0,
      borderColor: INK,
      borderWidth: 1.5,
    };
    return config;
  }

  function history(data) {
    const options = baseOptions(data, Boolean(data.percent));
    return {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          {
            id: "estimate",
            type: "line",
            label: data.text.estimate,
            data: data.estimate,
            borderColor: BRAND,
            backgroundColor: BRAND,
            pointRadius: 4,
            order: 1,
          },
          {
            id: "interval",
            type: "bar",
            label: data.text.interval,
            data: data.interval,
            backgroundColor: "rgba(74, 84, 96, 0.35)",
            barPercentage: 0.3,
            order: 2,
          },
          {
            id: "sequential",
            type: "bar",
            label: data.text.sequential,
            data: data.sequential,
            backgroundColor: "rgba(11, 99, 165, 0.18)",
            borderColor: IMPROVEMENT,
            borderWidth: 1,
            barPercentage: 0.6,
            order: 3,
          },
        ],
      },
      options: Object.assign(options, { scales: { x: { stacked: false }, y: options.scales.y } }),
    };
  }

  const BUILDERS = {
    spc: spc,
    did: did,
    pre_post: prePost,
    two_group: twoGroup,
    forest: forest,
    history: history,
  };

  function draw(root) {
    if (typeof window.Chart === "undefined") {
      return;
    }
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) {
        return;
      }
      let data;
      try {
        data = JSON.parse(canvas.getAttribute("data-chart"));
      } catch (error) {
        return;
      }
      const build = BUILDERS[data.type];
      if (build) {
        new window.Chart(canvas, build(data, canvas));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    draw(event.target);
  });
})();
