// The live page: the MJPEG stream in an <img>, the faces from the event stream (one event
// per analysed frame, each face in the JSON-line schema). A ?token= in the page's address
// is passed on to both streams.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
  const $ = (id) => document.getElementById(id);
  const status = $("status");

  const video = $("video");
  video.onerror = () => { status.textContent = "no video: the server has no live source, or the connection dropped"; };
  video.onload = () => { status.textContent = ""; };
  video.src = withToken("stream.mjpg");

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function task(result) {
    if (!result) return "–";
    if (result.value !== undefined && result.value !== null) {
      return `${Math.round(result.value)} ${result.unit || ""}`.trim() + (result.band ? ` (${result.band})` : "");
    }
    const p = result.confidence === null || result.confidence === undefined ? "" : ` ${Math.round(result.confidence * 100)}%`;
    return result.label + p;
  }

  function render(event) {
    $("source").textContent = event.source || "live";
    $("fps").textContent = `${event.fps.toFixed(1)} FPS`;
    $("stages").textContent = Object.entries(event.stages_ms || {})
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(" · ");
    const body = $("faces").tBodies[0];
    const rows = event.faces.map((f) => {
      const tr = document.createElement("tr");
      tr.className = "face";
      tr.dataset.track = f.track_id;
      tr.append(cell(`#${f.track_id}`), cell(task(f.emotion), "emotion"), cell(task(f.gender), "gender"),
        cell(task(f.age), "age"), cell(f.box.join(", "), "box"));
      return tr;
    });
    body.replaceChildren(...rows);
    $("count").textContent = `(${rows.length})`;
  }

  const events = new EventSource(withToken("events"));
  events.onmessage = (m) => { render(JSON.parse(m.data)); };
  events.onerror = () => { status.textContent = "event stream interrupted: reconnecting…"; };
})();
