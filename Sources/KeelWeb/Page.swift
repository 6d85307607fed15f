/// One HTML page: a live part that server-sent events refresh in place, and a still part
/// (forms) that a refresh must not wipe while someone types.
struct Page {
    var title: String
    /// The part inside `<div id="live">`; `?fragment=1` answers only this.
    var live: String
    /// Below the live part: action forms, links.
    var still: String = ""
    /// Refresh the live part when the server says it changed.
    var isLive = true

    /// The whole document: inline style, navigation, the live part and, when live, the few lines
    /// of script that listen on `/events` and reload the fragment. Nothing is fetched from elsewhere.
    func document(digest: UInt64) -> String {
        let script = isLive ? """
            <script>
            (function () {
              var live = document.getElementById('live');
              var view = location.pathname + location.search;
              var digest = live.getAttribute('data-digest');
              var source = new EventSource('/events?view=' + encodeURIComponent(view) + '&since=' + digest);
              source.addEventListener('change', function (e) {
                var sep = location.search ? '&' : '?';
                fetch(view + sep + 'fragment=1', {credentials: 'same-origin'}).then(function (r) {
                  if (r.ok) return r.text().then(function (t) { live.innerHTML = t; live.setAttribute('data-digest', e.data); });
                });
              });
            })();
            </script>
            """ : ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title)) · Keel</title>
            <style>\(Self.style)</style></head>
            <body><nav><b>Keel</b> <a href="/workflows">Workflows</a> <a href="/workers">Workers</a> <a href="/queues">Queues</a> <a href="/contracts">Contracts</a> <a href="/stuck">Stuck</a> <a href="/metrics">Metrics</a></nav>
            <main><h1>\(HTML.escape(title))</h1>
            <div id="live" data-digest="\(digest)">\(live)</div>
            \(still)
            </main>\(script)</body></html>
            """
    }

    static let style = """
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f7f8fa}
        nav{background:#1d2b3a;color:#fff;padding:8px 16px}nav a{color:#cfe3ff;margin-left:14px;text-decoration:none}
        main{padding:12px 20px;max-width:1400px}h1{font-size:20px;margin:8px 0 12px}h2{font-size:16px;margin:18px 0 6px}
        table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e3e6ea;padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#eef1f4;font-weight:600}td.t{white-space:nowrap}code{font:12px ui-monospace,monospace;word-break:break-all}
        .badge{padding:1px 7px;border-radius:9px;font-size:12px;background:#e3e6ea}
        .s-completed{background:#d3f2dc}.s-failed,.s-terminated,.s-timedOut{background:#fadadd}.s-running{background:#d8e8ff}
        .s-suspended,.s-scheduled{background:#fff0c2}.s-pending{background:#ece3ff}.s-cancelled{background:#e6e6e6}.s-parked{background:#ffd9b3}
        .counts a{margin-right:10px}.counts a.on{font-weight:700;text-decoration:underline}
        .headline{font-size:16px;background:#fff;border-left:4px solid #3d7bd9;padding:8px 12px;margin-bottom:12px}
        .warn{background:#fff3cd;border-left:4px solid #e0a800;padding:6px 10px;margin:6px 0}
        .flash{background:#d3f2dc;padding:6px 10px;margin:6px 0}.child td:first-child{padding-left:28px}
        form.action{display:inline-block;background:#fff;border:1px solid #e3e6ea;padding:8px;margin:6px 8px 6px 0;vertical-align:top}
        .track{position:relative;width:200px;margin-right:30px;height:14px;background:#eef1f4;border-radius:3px}
        .seg{position:absolute;top:2px;height:10px}.seg-queue{background:#b8c1cc}.seg-run{background:#3d7bd9}
        .seg-backoff{background:#f0a04b}.seg-wait{background:#e8cf6a}.seg-step{background:#7b5cd6}.failed.seg-run,.failed.seg-step{background:#d9534f}
        .seg.open{background-image:repeating-linear-gradient(45deg,transparent 0 4px,rgba(255,255,255,.5) 4px 8px)}
        .legend{font-size:12px;margin:2px 0 6px}.legend span{margin-right:10px}.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
        .tries{position:absolute;right:-26px;top:-2px;font-size:11px;color:#b03a2e;font-weight:700}
        ol.attempts{margin:4px 0;padding-left:0;list-style:none;color:#7a2018;font-size:12px}pre.schema{max-height:320px;white-space:pre-wrap}section.contract{background:#fff;border:1px solid #e3e6ea;padding:4px 12px;margin:12px 0}
        textarea{width:320px;height:60px;font:12px ui-monospace,monospace}pre{background:#fff;padding:8px;overflow:auto;max-height:480px}
        """
}
