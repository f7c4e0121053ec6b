"""What one browser tab knows of a Streamlit page: the element tree it builds from ForwardMsgs, the messages it sends.

Pure protobuf handling, no sockets, so the load test's reading of the page is testable on
recorded messages. It follows the frontend of the installed Streamlit (1.67):

- every websocket frame is one ``ForwardMsg``; a delta lands at ``metadata.delta_path``;
- large elements the tab said it holds (``cached_message_hashes``) come back as a
  ``ref_hash`` and are looked up in the tab's own message cache;
- a run starts with ``new_session`` and ends with ``script_finished``, both naming the run in
  ``metadata.run``; after a successful run the elements that run did not write are stale and
  dropped (for a fragment run, only those inside the fragments it reran);
- ``auto_rerun`` asks for a fragment rerun every ``interval`` seconds until a full run
  starts (``new_session`` with no fragment ids) or ``stop_auto_rerun`` names the fragment;
  one timer per fragment (asked again with the same interval, it keeps its timer);
- a widget inside a fragment reruns that fragment alone: its press names the fragment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetStates

FINISHED_OK = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
MAX_CACHED_MESSAGE_AGE = 2
"""Full runs a cached message survives unused; the server sends its own value in new_session."""


def element_text(element: Element) -> str:
    """The words an element shows (markdown, text, alert, progress, caption, exception); '' for others."""
    kind = element.WhichOneof("type")
    if kind in ("markdown", "text", "alert", "heading"):
        return getattr(element, kind).body
    if kind == "progress":
        return element.progress.text
    if kind == "exception":
        return f"{element.exception.type}: {element.exception.message}"
    return ""


def error_text(element: Element) -> str | None:
    """What is wrong if ``element`` reports an error (an exception, an st.error alert); None otherwise."""
    kind = element.WhichOneof("type")
    if kind == "exception" and not element.exception.is_warning:
        return f"exception {element.exception.type}: {element.exception.message}"
    if kind == "alert" and element.alert.format == element.alert.ERROR:
        return f"st.error: {element.alert.body}"
    return None


def find_button(elements, label: str) -> Element | None:
    """The first button element labelled ``label`` among ``elements`` (an iterable of Element)."""
    for element in elements:
        if element.WhichOneof("type") == "button" and element.button.label == label:
            return element
    return None


def shows_learned(texts, task: int) -> bool:
    """Whether any of ``texts`` says task ``task`` is learned ("Learned task 1 of 3.")."""
    wanted = f"Learned task {task} "
    return any(wanted in f"{text} " for text in texts)


def shows_job(element: Element, task: int, seen_before: set[str]) -> bool:
    """Whether ``element`` shows a training job's state: a progress bar, or new text naming the queue or the task."""
    if element.WhichOneof("type") == "progress":
        return True
    text = element_text(element)
    if not text or text in seen_before:
        return False
    return "queue" in text.lower() or f"Task {task}" in text


@dataclass(eq=False)
class Timer:
    """A fragment rerun the server asked for every ``interval`` seconds (one per auto_rerun message)."""

    fragment_id: str
    interval: float


@dataclass
class Placed:
    """An element where a delta put it, and which run put it there."""

    element: Element
    run_id: str
    fragment_id: str


@dataclass
class Page:
    """The page as the tab holds it: elements by delta path, the current run, the message cache, timers asked for."""

    elements: dict[tuple[int, ...], Placed] = field(default_factory=dict)
    run_id: str = ""
    run_fragments: tuple[str, ...] = ()
    page_script_hash: str = ""
    pages: dict[str, str] = field(default_factory=dict)
    """url path -> page script hash, from new_session/navigation."""
    cache: dict[str, tuple[ForwardMsg, int]] = field(default_factory=dict)
    full_runs: int = 0
    max_cached_age: int = MAX_CACHED_MESSAGE_AGE
    timers: list[Timer] = field(default_factory=list)
    """The fragment timers running now: the frontend starts one per auto_rerun message."""
    finished_runs: int = 0
    """Successful full runs so far."""

    def resolve(self, msg: ForwardMsg) -> ForwardMsg:
        """``msg`` itself, or the cached message its ``ref_hash`` names (KeyError if the tab never had it)."""
        if msg.WhichOneof("type") == "ref_hash":
            cached, _ = self.cache[msg.ref_hash]
            full = ForwardMsg()
            full.CopyFrom(cached)
            full.metadata.CopyFrom(msg.metadata)
            self.cache[msg.ref_hash] = (cached, self.full_runs)
            return full
        if msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = (msg, self.full_runs)
        return msg

    def apply(self, msg: ForwardMsg) -> list[Element]:
        """Apply one (resolved) ForwardMsg; returns the elements it placed (empty for other messages)."""
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._start_run(msg)
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
            self.pages.update({p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages})
        elif kind == "delta":
            return self._apply_delta(msg)
        elif kind == "script_finished" and msg.script_finished in FINISHED_OK:
            self._drop_stale()
        elif kind == "auto_rerun":  # one timer per fragment: the same interval keeps it, another replaces it
            fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if not any(t.fragment_id == fragment and t.interval == interval for t in self.timers):
                self.timers = [t for t in self.timers if t.fragment_id != fragment]
                self.timers.append(Timer(fragment, interval))
        elif kind == "stop_auto_rerun":
            stopped = set(msg.stop_auto_rerun.fragment_ids)
            self.timers = [t for t in self.timers if t.fragment_id not in stopped]
        return []

    def _start_run(self, msg: ForwardMsg) -> None:
        session = msg.new_session
        self.run_id = msg.metadata.run.script_run_id
        self.run_fragments = tuple(msg.metadata.run.fragment_ids)
        if session.config.max_cached_message_age:
            self.max_cached_age = session.config.max_cached_message_age
        if session.page_script_hash:
            self.page_script_hash = session.page_script_hash
        self.pages.update({p.url_pathname: p.page_script_hash for p in session.app_pages})
        if not self.run_fragments:
            self.timers = []  # the frontend drops every timer when a full run starts

    def _apply_delta(self, msg: ForwardMsg) -> list[Element]:
        delta, path = msg.delta, tuple(msg.metadata.delta_path)
        kind = delta.WhichOneof("type")
        if kind == "new_element":
            self.elements[path] = Placed(delta.new_element, self.run_id, delta.fragment_id)
            return [delta.new_element]
        if kind == "add_block":  # a block replaces whatever sat at its path, children included
            for stale in [p for p in self.elements if p[: len(path)] == path]:
                del self.elements[stale]
        return []

    def _drop_stale(self) -> None:
        """After a successful run: drop what this run did not write (within its fragments for a fragment run)."""
        fragments = set(self.run_fragments)
        for path, placed in list(self.elements.items()):
            if placed.run_id == self.run_id:
                continue
            if not fragments or placed.fragment_id in fragments:
                del self.elements[path]
        if not fragments:
            self.finished_runs += 1
            self.full_runs += 1
            self.cache = {h: (m, age) for h, (m, age) in self.cache.items()
                          if self.full_runs - age <= self.max_cached_age}  # fmt: skip

    def fragment_of(self, element: Element) -> str:
        """The fragment that drew ``element`` ('' outside any): a press of a widget in it reruns that fragment."""
        return next((p.fragment_id for p in self.elements.values() if p.element is element), "")

    def shown(self) -> list[Element]:
        """Every element on the page, in delta-path order."""
        return [self.elements[p].element for p in sorted(self.elements)]


def rerun_message(
    page: Page,
    *,
    page_name: str = "",
    widgets: WidgetStates | None = None,
    fragment_id: str = "",
    auto: bool = False,
    url: str = "",
    query: str = "",
) -> BackMsg:
    """The BackMsg the frontend sends to run the page (or one fragment), naming the cached messages it holds."""
    msg = BackMsg()
    state = msg.rerun_script
    if page.page_script_hash:
        state.page_script_hash = page.page_script_hash
    else:  # the first run of a tab opened at /<page>: the server finds the page by its url path
        state.page_name = page_name
    state.query_string = query  # the page's settings in its address, as a link carries them
    state.widget_states.CopyFrom(widgets or WidgetStates())
    state.fragment_id = fragment_id
    state.is_auto_rerun = auto
    state.cached_message_hashes.extend(sorted(page.cache))
    state.context_info.CopyFrom(
        ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", url=url, is_embedded=False)
    )
    return msg


def trigger(widget_id: str) -> WidgetStates:
    """Widget states for a button press: the button's trigger value, as the frontend sends it."""
    states = WidgetStates()
    state = states.widgets.add()
    state.id = widget_id
    state.trigger_value = True
    return states
