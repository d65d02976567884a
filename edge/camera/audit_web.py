"""The marking page of ``mallsense camera-audit mark``: a local web page over an ``AuditSession``.

The node has no screen, so the installer opens this page through an SSH tunnel
(``ssh -L 8766:127.0.0.1:8766 node``, then http://127.0.0.1:8766/). It is served on 127.0.0.1 only, answers only
requests addressed to 127.0.0.1 or localhost (a page elsewhere cannot reach it by DNS rebinding), changes state only
on JSON posts (which a cross-site form cannot send), and loads nothing from outside: no CDN, no external assets.
The handlers are thin: everything they do is a method of the session, which the tests drive directly.
"""

from __future__ import annotations

import signal

from flask import Flask, Response, abort, jsonify, request

from edge.camera.audit import AuditError, AuditSession

LOCAL_HOSTS = ("127.0.0.1", "localhost")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mallsense camera audit</title>
<style>
 body { font: 14px sans-serif; margin: 12px; background: #222; color: #eee; }
 #frame { max-width: 100%; border: 1px solid #555; }
 #side { margin-top: 8px; } .in { color: #7f7; } .out { color: #f77; } .unsaved { color: #fc6; }
 kbd { background: #444; padding: 1px 4px; border-radius: 3px; }
 #marks { max-height: 12em; overflow-y: auto; columns: 6; }
</style></head>
<body>
<img id="frame" alt="frame">
<div id="side">
 <div><kbd>&rarr;</kbd>/<kbd>&larr;</kbd> one frame, <kbd>Shift</kbd>+arrow ten, <kbd>i</kbd> / <kbd>o</kbd>
 a person crosses in / out at this frame (the shaded side is in), <kbd>Backspace</kbd> undo the last mark,
 <kbd>s</kbd> save.</div>
 <div id="status"></div>
 <div id="marks"></div>
</div>
<script>
let state = null;
function show(s) {
  state = s;
  document.getElementById('frame').src = '/frame/' + s.frame + '.jpg?m=' + s.marks.length;
  const saved = s.unsaved ? '<span class="unsaved">not saved</span>' : 'saved to ' + s.out;
  document.getElementById('status').innerHTML = 'frame ' + s.frame + ' of ' + s.start + '..' + s.end +
    ' &middot; marked in ' + s.counts.in + ', out ' + s.counts.out + ' &middot; ' + saved;
  document.getElementById('marks').innerHTML = s.marks.map(
    m => '<div class="' + m[1] + '">' + m[0] + ' ' + m[1] + '</div>').join('');
}
async function send(key, shift) {
  const r = await fetch('/key', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                 body: JSON.stringify({key: key, shift: shift})});
  const body = await r.json();
  if (!r.ok) { alert(body.error); return; }
  show(body);
}
document.addEventListener('keydown', e => {
  const keys = ['ArrowRight', 'ArrowLeft', 'Backspace', 'i', 'o', 's', 'I', 'O', 'S'];
  if (!keys.includes(e.key) || e.ctrlKey || e.metaKey || e.altKey) return;
  e.preventDefault();
  send(e.key, e.shiftKey);
});
window.addEventListener('beforeunload', e => { if (state && state.unsaved) e.preventDefault(); });
fetch('/state').then(r => r.json()).then(show);
</script>
</body></html>
"""


def create_app(session: AuditSession) -> Flask:
    app = Flask("mallsense-camera-audit")

    @app.before_request
    def _local_only() -> None:
        if request.host.rsplit(":", 1)[0].strip("[]") not in LOCAL_HOSTS:
            abort(403)

    @app.errorhandler(AuditError)
    def _bad(exc: AuditError) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 400

    @app.get("/")
    def page() -> Response:
        return Response(PAGE, mimetype="text/html")

    @app.get("/state")
    def state() -> Response:
        return jsonify(session.state())

    @app.get("/frame/<int:index>.jpg")
    def frame(index: int) -> Response:
        return Response(session.jpeg(index), mimetype="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/key")
    def key() -> Response:
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            raise AuditError('post JSON {"key": NAME, "shift": true|false}')
        session.key(body["key"], bool(body.get("shift", False)))
        return jsonify(session.state())

    return app


def serve(session: AuditSession, port: int) -> None:
    """Serve the page on 127.0.0.1:``port`` until Ctrl-C or SIGTERM (then save what is unsaved)."""
    from werkzeug.serving import make_server

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    server = make_server("127.0.0.1", port, create_app(session), threaded=False)
    print(f"audit page on http://127.0.0.1:{port}/ (from your computer: ssh -L {port}:127.0.0.1:{port} THIS-NODE, "
          f"then open that address); Ctrl-C ends", flush=True)
    before = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, before)
        server.server_close()
        if session.unsaved:
            print(f"saved {len(session.marks)} marks to {session.save()}")
