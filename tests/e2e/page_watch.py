"""Scripts the browser tests run in the page to watch what it draws over time, and what the server sends."""

import re

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


class SentPictures:
    """Every network picture the server sends to ``page``, in order, read off the app's websocket.

    What the browser draws depends on how fast it runs (two pictures that land within one frame
    are drawn as the second): on a busy machine an in-between picture can be skipped on screen.
    What the server sends does not: each in-between picture is one message. Attach before
    ``page.goto`` (a socket that is already open is not seen).
    """

    META = re.compile(rb'"meta":\s*\{"mode":\s*"[a-z]+",\s*"task":\s*(\d+),.*?"arrive":\s*(null|[0-9.]+)\}')

    def __init__(self, page) -> None:
        self.entries: list[str] = []
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        for task, arrive in self.META.findall(data):
            self.entries.append(f"{int(task)}:" + ("done" if arrive == b"null" else f"{float(arrive):.2f}"))

    def of(self, task: int) -> list[str]:
        return [p for p in self.entries if p.startswith(f"{task}:")]


def in_order(seen: list[str], sent: list[str]) -> bool:
    """Whether ``seen`` is ``sent`` with some pictures left out (none added, none out of order)."""
    rest = iter(sent)
    return all(any(p == q for q in rest) for p in seen)
