"""Scripts the browser tests run in the page to watch what it draws over time."""

# Every picture the network chart shows, in order: "task:arrive" ("done" for a finished picture).
WATCH_ARRIVALS = """() => {
  window.__pictures = [];
  const last = new WeakMap();  // a chart element -> the picture it showed last
  const tick = () => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      const meta = gd.layout && gd.layout.meta;
      if (!meta || !meta.mode) continue;
      const entry = meta.task + ':' + (meta.arrive == null ? 'done' : meta.arrive.toFixed(2));
      if (last.get(gd) !== entry) window.__pictures.push(entry);
      last.set(gd, entry);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
