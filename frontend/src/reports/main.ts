// The report's charts, drawn by Chart.js from numbers the server put in data-* attributes. Every chart opens
// the conversations or tickets behind it on click; the tables under each chart hold the same figures.
import "./reports.css";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const COLOURS = ["#2f6fed", "#1e9e6a", "#e0892b", "#8a4fd8", "#c2410c", "#0f766e"];

interface Volume {
  labels: string[];
  series: Record<string, number[]>;
}

interface Funnel {
  keys: string[];
  values: number[];
  links: string[];
}

function parse<T>(canvas: HTMLCanvasElement): T {
  return JSON.parse(canvas.dataset.values ?? "null") as T;
}

function go(url: string | undefined): void {
  if (url) window.location.assign(url);
}

function volume(canvas: HTMLCanvasElement): ChartConfiguration<"bar"> {
  const data = parse<Volume>(canvas);
  return {
    type: "bar",
    data: {
      labels: data.labels.map((d) => d.slice(5)),
      datasets: Object.entries(data.series).map(([channel, values], i) => ({
        label: channel,
        data: values,
        backgroundColor: COLOURS[i % COLOURS.length],
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_event, elements) => {
        if (!elements.length) return;
        const day = data.labels[elements[0].index];
        const channel = Object.keys(data.series)[elements[0].datasetIndex];
        const url = new URL(canvas.dataset.link ?? "/reports/conversations", window.location.href);
        url.searchParams.set("from", day);
        url.searchParams.set("to", day);
        url.searchParams.set("channel", channel);
        go(url.toString());
      },
    },
  };
}

// Long stage names on two lines, so a phone-wide chart does not clip them.
function wrap(label: string): string | string[] {
  if (label.length <= 14) return label;
  const words = label.split(" ");
  const half = Math.ceil(words.length / 2);
  return [words.slice(0, half).join(" "), words.slice(half).join(" ")];
}

function funnel(canvas: HTMLCanvasElement): ChartConfiguration<"bar"> {
  const data = parse<Funnel>(canvas);
  const names = (canvas.dataset.names ?? "").split("|");
  return {
    type: "bar",
    data: {
      labels: data.keys.map((key, i) => wrap(names[i] || key)),
      datasets: [{ label: canvas.getAttribute("aria-label") ?? "", data: data.values, backgroundColor: COLOURS[0] }],
    },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_event, elements) => {
        if (elements.length) go(data.links[elements[0].index]);
      },
    },
  };
}

function simple(canvas: HTMLCanvasElement, labels: string[]): ChartConfiguration<"bar"> {
  const values = parse<number[]>(canvas);
  return {
    type: "bar",
    data: {
      labels,
      datasets: [{ label: canvas.getAttribute("aria-label") ?? "", data: values, backgroundColor: COLOURS[0] }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_event, elements) => {
        if (elements.length) go(canvas.dataset.link);
      },
    },
  };
}

function draw(canvas: HTMLCanvasElement): void {
  const kind = canvas.dataset.chart;
  let config: ChartConfiguration<"bar"> | null = null;
  if (kind === "volume") config = volume(canvas);
  else if (kind === "funnel") config = funnel(canvas);
  else if (kind === "hours") config = simple(canvas, Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0")));
  else if (kind === "csat") config = simple(canvas, ["1", "2", "3", "4", "5"]);
  if (config) new Chart(canvas, config);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll<HTMLCanvasElement>("canvas[data-chart]").forEach(draw);
});
