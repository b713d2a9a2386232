// facetrust's page: upload or camera -> /v1/analyze or WS /v1/stream -> boxes, decisions, heatmaps.
// Plain browser JavaScript, no build step, nothing fetched from outside this service.
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("view");
const ctx = view.getContext("2d");
const state = { models: null, stream: null, frames: 0 };

function headers() {
  const key = $("apikey").value.trim();
  return key ? { "X-API-Key": key } : {};
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function setStatus(text) { $("status").textContent = text; }

function accepted(face, score, threshold) {
  if (score === null || score === undefined || threshold === null || threshold === undefined) return null;
  return score >= threshold;
}

function cls(ok) { return ok === null ? "undecided" : ok ? "accepted" : "rejected"; }

async function loadModels() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    if (!response.ok) { $("models").textContent = `models: ${response.status} ${(await response.json()).detail}`; return; }
    const info = await response.json();
    state.models = info.models;
    const parts = [];
    for (const role of ["fas", "deepfake"]) {
      const m = info.models[role];
      if (!m) continue;
      const how = m.threshold_strategy ? String(m.threshold_strategy).split(/[:;(]/)[0].trim().slice(0, 48) : "";
      parts.push(`<span title="${escapeHtml(m.threshold_strategy || "")}"><b>${role}</b>: ${escapeHtml(m.name)} ` +
                 `(${escapeHtml(m.architecture)}, ${m.backend}, input ${m.input_size.join("×")}, ` +
                 `threshold ${m.threshold === null ? "none" : m.threshold.toFixed(3)}${how ? " (" + escapeHtml(how) + ")" : ""}, ` +
                 `sha256 ${String(m.sha256).slice(0, 12)})</span>`);
    }
    parts.push(`<b>detector</b>: ${escapeHtml(info.models.detector)}`);
    if (info.models.face) parts.push(`<b>face</b>: ${escapeHtml(info.models.face.name)} (threshold ${info.models.face.threshold.toFixed(3)})`);
    if (info.models.claims) parts.push(`<b>claims</b>: ${escapeHtml(info.models.claims.name)}`);
    $("models").innerHTML = parts.join(" · ");
    $("explain").disabled = !info.models.fas.explain;
  } catch (err) {
    $("models").textContent = `models: ${err}`;
  }
}

function drawFaces(faces, scaleX, scaleY) {
  ctx.lineWidth = Math.max(2, view.width / 200);
  ctx.font = `${Math.max(14, Math.round(view.width / 32))}px system-ui, sans-serif`;
  faces.forEach((face, i) => {
    const [x, y, w, h] = face.box.map((v, k) => v * (k % 2 === 0 ? scaleX : scaleY));
    const score = face.smoothed_score ?? face.score;
    const ok = accepted(face, score, face.threshold);
    const colour = ok === null ? "#bbbbbb" : ok ? "#1f9d55" : "#d64545";
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const label = `${face.track_decision ?? face.decision ?? "?"} ${score === null || score === undefined ? "" : score.toFixed(2)}`;
    const textWidth = ctx.measureText(label).width + 8;
    const lineHeight = parseInt(ctx.font, 10) + 6;
    const top = y > lineHeight ? y - lineHeight : y + h;
    ctx.fillStyle = colour;
    ctx.fillRect(x, top, textWidth, lineHeight);
    ctx.fillStyle = "white";
    ctx.fillText(label, x + 4, top + lineHeight - 6);
    if (face.landmarks) {
      ctx.fillStyle = "#ffd23f";
      for (const [lx, ly] of face.landmarks) ctx.fillRect(lx * scaleX - 2, ly * scaleY - 2, 4, 4);
    }
    if (face.track_id !== undefined) {
      ctx.fillStyle = colour;
      ctx.fillText(`#${face.track_id}`, x + 4, y + h - 6);
    }
  });
}

async function drawHeatmaps(faces, scaleX, scaleY) {
  for (const face of faces) {
    if (!face.heatmap) continue;
    const img = new Image();
    img.src = `data:image/png;base64,${face.heatmap.png}`;
    await img.decode();
    const [x, y, w, h] = face.heatmap.region;
    ctx.drawImage(img, x * scaleX, y * scaleY, w * scaleX, h * scaleY);
  }
}

function showTable(faces, timings) {
  const body = $("faces").querySelector("tbody");
  body.innerHTML = "";
  faces.forEach((face, i) => {
    const score = face.smoothed_score ?? face.score;
    const ok = accepted(face, score, face.threshold);
    const extra = [];
    if (face.deepfake) extra.push(`deepfake: ${face.deepfake.decision} ${face.deepfake.score.toFixed(2)}`);
    if (face.identity) extra.push(`identity: ${face.identity.name} (${face.identity.similarity.toFixed(2)})`);
    if (face.heatmap) extra.push(`heatmap: ${face.heatmap.method}, explains ${face.heatmap.explains}`);
    if (face.track_id !== undefined) extra.push(`track ${face.track_id}, frame score ${face.score === null ? "-" : face.score.toFixed(2)}`);
    const row = document.createElement("tr");
    row.className = "face";
    row.innerHTML = `<td>${face.track_id ?? i + 1}</td>` +
      `<td class="decision ${cls(ok)}">${escapeHtml(face.track_decision ?? face.decision ?? "-")}</td>` +
      `<td>${score === null || score === undefined ? "-" : score.toFixed(3)}</td>` +
      `<td>${face.threshold === null ? "-" : face.threshold.toFixed(3)}</td><td>${escapeHtml(extra.join("; "))}</td>`;
    body.appendChild(row);
  });
  const summary = $("summary");
  if (!faces.length) {
    summary.textContent = "No face found.";
    summary.className = "summary undecided";
  } else {
    const first = faces[0];
    const score = first.smoothed_score ?? first.score;
    summary.textContent = `${faces.length} face${faces.length > 1 ? "s" : ""}; largest: ${first.track_decision ?? first.decision} (score ${score === null ? "-" : score.toFixed(3)})`;
    summary.className = `summary ${cls(accepted(first, score, first.threshold))}`;
  }
  $("timings").textContent = timings ? Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(" · ") : "";
}

async function analyzeFile(file) {
  stopCamera();
  setStatus(`analysing ${file.name}…`);
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const form = new FormData();
  form.append("file", file);
  const explain = $("explain").checked ? `?explain=${encodeURIComponent($("method").value)}` : "";
  const response = await fetch(`/v1/analyze${explain}`, { method: "POST", body: form, headers: headers() });
  const result = await response.json();
  if (!response.ok) { setStatus(`error ${response.status}: ${result.detail}`); return; }
  view.width = bitmap.width;
  view.height = bitmap.height;
  ctx.drawImage(bitmap, 0, 0);
  const sx = view.width / result.image.width, sy = view.height / result.image.height;
  await drawHeatmaps(result.faces, sx, sy);
  drawFaces(result.faces, sx, sy);
  showTable(result.faces, result.timings_ms);
  setStatus(`${file.name}: ${result.faces.length} face(s), ${result.timings_ms.total_ms.toFixed(0)} ms`);
  document.body.dataset.analyzed = String(Number(document.body.dataset.analyzed || 0) + 1);
}

async function startCamera() {
  const video = $("video");
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  video.srcObject = media;
  await video.play();
  const key = $("apikey").value.trim();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/stream${key ? "?api_key=" + encodeURIComponent(key) : ""}`);
  socket.binaryType = "arraybuffer";
  const grab = document.createElement("canvas");
  const stream = { media, socket, started: performance.now(), frames: 0, last: null };
  state.stream = stream;
  $("camera").textContent = "Stop camera";
  $("camera").classList.add("active");

  const send = () => {
    if (state.stream !== stream || socket.readyState !== WebSocket.OPEN) return;
    grab.width = video.videoWidth || 640;
    grab.height = video.videoHeight || 480;
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    stream.last = grab;
    grab.toBlob((blob) => blob && blob.arrayBuffer().then((buffer) => socket.send(buffer)), "image/jpeg", 0.85);
  };
  socket.onopen = send;
  socket.onmessage = (event) => {
    const result = JSON.parse(event.data);
    stream.frames += 1;
    state.frames += 1;
    if (result.error) {
      setStatus(`frame ${result.frame}: error ${result.error.status}: ${result.error.message}`);
    } else {
      view.width = grab.width;
      view.height = grab.height;
      ctx.drawImage(grab, 0, 0);
      drawFaces(result.tracks, view.width / result.image.width, view.height / result.image.height);
      showTable(result.tracks, result.timings_ms);
      if (result.tracks.length) {  // for scripts watching the page (the browser test)
        document.body.dataset.faceFrames = String(Number(document.body.dataset.faceFrames || 0) + 1);
        document.body.dataset.lastDecision = result.tracks[0].track_decision;
      }
      const fps = stream.frames / ((performance.now() - stream.started) / 1000);
      setStatus(`live: ${stream.frames} frames, ${fps.toFixed(1)} fps`);
    }
    document.body.dataset.frames = String(state.frames);
    send();  // one frame in flight at a time: the camera never outruns the service
  };
  socket.onclose = (event) => { if (state.stream === stream) { setStatus(`stream closed ${event.code} ${event.reason}`); stopCamera(); } };
}

function stopCamera() {
  const stream = state.stream;
  if (!stream) return;
  state.stream = null;
  stream.socket.close();
  stream.media.getTracks().forEach((track) => track.stop());
  $("camera").textContent = "Start camera";
  $("camera").classList.remove("active");
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) analyzeFile(file).catch((err) => setStatus(`error: ${err}`));
});
$("camera").addEventListener("click", () => {
  if (state.stream) stopCamera();
  else startCamera().catch((err) => setStatus(`camera: ${err}`));
});
$("apikey").addEventListener("change", loadModels);
loadModels();
