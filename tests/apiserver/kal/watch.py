"""Watch streaming: line-delimited JSON events over chunked HTTP/1.1, from a resourceVersion or a
snapshot, with selector transitions, BOOKMARKs, timeoutSeconds, 410 as an ERROR event and
sendInitialEvents."""
import copy
import json
import socket
import time

from . import status, table
from .api import TRUE
from .selectors import match_fields, match_labels, parse_fields, parse_labels
from .status import ApiError


def end_chunks(h):
    h.wfile.write(b"0\r\n\r\n")
    h.wfile.flush()


def serve(h, app, res, ns, name, ctx):
    """Answers one watch request on handler h (headers, events, end)."""
    store = app.store
    lab = parse_labels(ctx.q("labelSelector", ""))
    fld = parse_fields(ctx.q("fieldSelector", ""), res)
    if name:
        fld.append(("metadata.name", "=", name))

    def keep(o):
        if o is None:
            return False
        md = o["metadata"]
        if ns and md.get("namespace") != ns:
            return False
        return match_labels(lab, md.get("labels")) and match_fields(fld, o)

    bookmarks = ctx.flag("allowWatchBookmarks")
    initial_events = ctx.q("sendInitialEvents")
    if initial_events is not None:
        initial_events = "true" if initial_events in TRUE else "false"
        if initial_events == "true" and ctx.q("resourceVersionMatch") != "NotOlderThan":
            raise status.invalid_plain("resourceVersionMatch", "Forbidden: sendInitialEvents requires "
                                       "setting resourceVersionMatch to NotOlderThan")
    rv = ctx.q("resourceVersion", "")
    timeout = float(ctx.q("timeoutSeconds") or app.default_watch_timeout)
    expired = None
    with store.lock:
        snapshot = rv in ("", "0") or initial_events == "true"
        since = None
        if not snapshot:
            try:
                since = int(rv)
            except ValueError:
                # the real server fails to parse it deep in storage: a 500 without a reason
                raise ApiError(500, "", 'resourceVersion: Invalid value: "%s": strconv.ParseUint: parsing "%s": '
                               "invalid syntax" % (rv, rv), None)
            # a version from the future: the watch cache waits for it (no 504), sending only
            # what comes after it
            if store.too_old(since):
                expired = "too old resource version: %d (%d)" % (since, store.floor)
        w, initial, start_rv, backlog = store.watch(res.gr, since, snapshot, ns or None)
    try:
        h.code = h.entry["code"] = 200
        h._headers(200, "application/json")
        last_rv = start_rv
        # the newest version the client has from this watch (or asked to start from)
        seen = [since if since is not None else start_rv]

        cols = h._table_columns(app, res)

        def send(type_, obj):
            if cols is not None and type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = table.table([obj], cols)
            try:
                seen[0] = max(seen[0], int(obj["metadata"]["resourceVersion"]))
            except (KeyError, TypeError, ValueError):
                pass
            line = json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"
            h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            h.wfile.flush()

        def bookmark(rv_, annotations=None):
            md = {"resourceVersion": str(rv_)}
            if annotations:
                md["annotations"] = annotations
            send("BOOKMARK", {"kind": res.kind, "apiVersion": res.gv, "metadata": md})

        if expired:
            send("ERROR", status.expired(expired).status())
            end_chunks(h)
            return
        for o in initial:
            if keep(o):
                send("ADDED", app.api.out(res, o))
        if initial_events == "true" and bookmarks:
            bookmark(start_rv, {"k8s.io/initial-events-end": "true"})
        deadline = time.monotonic() + timeout

        def next_bookmark(t):
            # periodic, plus one ~2 s before the deadline (as the watch cache does)
            final = deadline - 2
            return final if t < final < t + app.bookmark_interval else t + app.bookmark_interval
        next_bm = next_bookmark(time.monotonic())
        pending = list(backlog)
        while True:
            if pending:
                ev = pending.pop(0)
            else:
                now_ = time.monotonic()
                if now_ >= deadline:
                    break
                wait = min(deadline, next_bm) - now_ if bookmarks else deadline - now_
                try:
                    ev = w.q.get(timeout=max(0.01, wait))
                except Exception:
                    ev = False
                if ev is None:  # closed: events queued before it were sent first
                    if w.abort:
                        h.close_connection = True
                        h.request.shutdown(socket.SHUT_RDWR)
                        return
                    break
                if ev is False:
                    if bookmarks and time.monotonic() >= next_bm:
                        with store.lock:
                            if w.q.empty():
                                last_rv = max(last_rv, store.rv)
                        if last_rv > seen[0]:
                            # as the watch cache: a bookmark only carries a version the client lacks
                            bookmark(last_rv)
                        next_bm = next_bookmark(time.monotonic())
                    continue
            if since is not None and ev.rv <= since:
                continue
            last_rv = ev.rv
            a, b = keep(ev.prev), keep(ev.obj)
            if ev.type == "ADDED" and b:
                send("ADDED", app.api.out(res, ev.obj))
            elif ev.type == "MODIFIED":
                if a and b:
                    send("MODIFIED", app.api.out(res, ev.obj))
                elif b:
                    send("ADDED", app.api.out(res, ev.obj))
                elif a:
                    # the watch cache sends the object the client last matched, at the new version
                    gone = copy.deepcopy(ev.prev)
                    gone["metadata"]["resourceVersion"] = ev.obj["metadata"]["resourceVersion"]
                    send("DELETED", app.api.out(res, gone))
            elif ev.type == "DELETED" and b:
                send("DELETED", app.api.out(res, ev.obj))
        end_chunks(h)
    finally:
        store.unwatch(w)
