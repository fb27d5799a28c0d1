// syncpose live viewer: no libraries, no network beyond this server.
// The scene is drawn with a small perspective camera on a 2D canvas: floor grid, the rig's
// camera frusta (from /api/calibration), the skeleton from /ws/poses with per-joint
// uncertainty as circle size. World: metres, Z up.
"use strict";

const PARENTS = [-1, 0, 1, 1, 1, 3, 4, 5, 6, 0, 0, 9, 10, 11, 12, 13, 14];
const canvas = document.getElementById("scene");
const ctx = canvas.getContext("2d");
const view = { yaw: 0.7, pitch: 0.45, dist: 7.0, target: [0, 0, 1.0] };
let cameras = [];
let pose = null;
let poseCount = 0;

function token() { return document.getElementById("token").value.trim(); }
function authHeaders() {
  const t = token();
  return t ? { "Authorization": "Bearer " + t } : {};
}
// For what cannot send a header (WebSockets, download links): "?token=…" or "&token=…".
function tokenQuery(sep) {
  const t = token();
  return t ? sep + "token=" + encodeURIComponent(t) : "";
}

// -- projection ---------------------------------------------------------------------------
function eye() {
  const [tx, ty, tz] = view.target;
  const c = Math.cos(view.pitch);
  return [tx + view.dist * c * Math.cos(view.yaw), ty + view.dist * c * Math.sin(view.yaw),
          tz + view.dist * Math.sin(view.pitch)];
}
function basis() {
  const e = eye();
  let f = view.target.map((v, i) => v - e[i]);
  const n = Math.hypot(...f); f = f.map(v => v / n);
  let r = [f[1], -f[0], 0]; const rn = Math.hypot(...r) || 1; r = r.map(v => v / rn);
  const u = [r[1] * f[2] - r[2] * f[1], r[2] * f[0] - r[0] * f[2], r[0] * f[1] - r[1] * f[0]];
  return { e, f, r, u };
}
function project(p, b) {
  const d = [p[0] - b.e[0], p[1] - b.e[1], p[2] - b.e[2]];
  const z = d[0] * b.f[0] + d[1] * b.f[1] + d[2] * b.f[2];
  if (z < 0.05) return null;
  const x = d[0] * b.r[0] + d[1] * b.r[1] + d[2] * b.r[2];
  const y = d[0] * b.u[0] + d[1] * b.u[1] + d[2] * b.u[2];
  const s = 0.9 * canvas.height / z;
  return [canvas.width / 2 + x * s, canvas.height / 2 - y * s, s];
}
function line(a, b, bs) {
  const p = project(a, bs), q = project(b, bs);
  if (!p || !q) return;
  ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
}

// -- drawing ------------------------------------------------------------------------------
function draw() {
  const b = basis();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 1; ctx.strokeStyle = "#30363d";
  for (let a = -3; a <= 3; a += 0.5) { line([a, -3, 0], [a, 3, 0], b); line([-3, a, 0], [3, a, 0], b); }
  ctx.strokeStyle = "#6b7785";
  for (const cam of cameras) drawFrustum(cam, b);
  const people = pose ? pose.people || [] : [];
  for (const person of people) drawSkeleton(person, b);
  canvas.dataset.skeletons = people.map(p => p.id).join(",");  // who is drawn (for tests)
  const solved = document.getElementById("solved").checked
    ? people.filter(p => p.skeleton && drawSolved(p.skeleton, b)) : [];
  canvas.dataset.solved = solved.map(p => p.id).join(",");
  requestAnimationFrame(draw);
}
function rot(rv) {  // Rodrigues vector -> 3x3 (world to camera)
  const th = Math.hypot(...rv);
  if (th < 1e-12) return [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const [x, y, z] = rv.map(v => v / th), c = Math.cos(th), s = Math.sin(th), C = 1 - c;
  return [[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
          [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
          [z * x * C - y * s, z * y * C + x * s, c + z * z * C]];
}
function drawFrustum(cam, b) {
  const R = rot(cam.rotation), K = cam.matrix, [w, h] = cam.size, depth = 0.4;
  const corners = [[0, 0], [w, 0], [w, h], [0, h]].map(([u, v]) => {
    const dc = [(u - K[0][2]) / K[0][0] * depth, (v - K[1][2]) / K[1][1] * depth, depth];
    // world = R^T (dc - t) + ... : a direction R^T dc from the centre
    return [0, 1, 2].map(i => cam.centre[i] + R[0][i] * dc[0] + R[1][i] * dc[1] + R[2][i] * dc[2]);
  });
  for (let i = 0; i < 4; i++) { line(cam.centre, corners[i], b); line(corners[i], corners[(i + 1) % 4], b); }
  const p = project(cam.centre, b);
  if (p) { ctx.fillStyle = "#8a9199"; ctx.fillText(cam.name, p[0] + 4, p[1] - 4); }
}
// Each person in their own colour, by id (the same person keeps it).
const COLOURS = ["#ffc83c", "#3cc8ff", "#ff5fa2", "#7dff6b", "#b98cff", "#ff9a3c", "#3cffd5"];
function colour(id) { return COLOURS[((id - 1) % COLOURS.length + COLOURS.length) % COLOURS.length]; }
function drawSkeleton(ps, b) {
  const P = ps.positions, U = ps.uncertainty || [];
  ctx.lineWidth = 3; ctx.strokeStyle = colour(ps.id);
  PARENTS.forEach((par, j) => { if (par >= 0 && P[j] && P[par]) line(P[par], P[j], b); });
  P.forEach((p, j) => {
    if (!p) return;
    const q = project(p, b); if (!q) return;
    const unc = U[j] == null ? 0 : U[j];
    const r = Math.max(3, Math.min(30, 3 + unc * q[2]));
    ctx.fillStyle = unc > 0.03 ? "#ff7a59" : "#ffffff";
    ctx.beginPath(); ctx.arc(q[0], q[1], r, 0, 2 * Math.PI); ctx.fill();
  });
  const head = P[2] || P[1] || P.find(p => p);
  const h = head && project(head, b);
  if (h) { ctx.fillStyle = colour(ps.id); ctx.fillText("P" + ps.id, h[0] + 8, h[1] - 8); }
}

// The solved skeleton beside the raw joints: its bones in grey, each bone's local axes
// (x red, y green, z blue, 10 cm) at its start. Whether anything was drawn.
const AXIS_COLOURS = ["#ff4040", "#40ff40", "#4080ff"];
function drawSolved(sk, b) {
  const P = sk.positions;
  let drawn = false;
  ctx.lineWidth = 2; ctx.strokeStyle = "#c0c4c8";
  sk.parents.forEach((par, k) => {
    if (par >= 0 && P[k] && P[par]) { line(P[par], P[k], b); drawn = true; }
  });
  ctx.lineWidth = 2.5;
  sk.axes.forEach((axes, k) => {
    if (!P[k]) return;
    axes.forEach((a, i) => {
      ctx.strokeStyle = AXIS_COLOURS[i];
      line(P[k], [0, 1, 2].map(c => P[k][c] + 0.1 * a[c]), b);
    });
  });
  return drawn;
}

// -- interaction --------------------------------------------------------------------------
let drag = null;
canvas.addEventListener("mousedown", e => { drag = [e.clientX, e.clientY]; });
window.addEventListener("mouseup", () => { drag = null; });
window.addEventListener("mousemove", e => {
  if (!drag) return;
  view.yaw -= (e.clientX - drag[0]) * 0.01;
  view.pitch = Math.max(-0.2, Math.min(1.5, view.pitch + (e.clientY - drag[1]) * 0.01));
  drag = [e.clientX, e.clientY];
});
canvas.addEventListener("wheel", e => {
  e.preventDefault(); view.dist = Math.max(1.5, Math.min(30, view.dist * Math.exp(e.deltaY * 0.001)));
}, { passive: false });

// -- data ---------------------------------------------------------------------------------
async function getJSON(path) {
  const r = await fetch(path, { headers: authHeaders() });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}
async function loadCalibration() {
  try { cameras = (await getJSON("/api/calibration")).cameras; } catch (e) { cameras = []; }
}
async function refreshCameras() {
  try {
    const cams = await getJSON("/api/cameras");
    document.getElementById("cameras").innerHTML = cams.map(c =>
      `<div class="cam ${c.state === "ok" ? "" : "stale"}"><span class="name">${c.camera_id}</span> ` +
      `${c.state} · ${c.fps.toFixed(1)} fps · drops ${c.drops} · δ ${c.offset_ms == null ? "–" : c.offset_ms.toFixed(1) + " ms"}</div>`
    ).join("");
  } catch (e) { /* the server may still be starting */ }
}
async function refreshRecordings() {
  try {
    const recs = await getJSON("/api/recordings");
    document.getElementById("recordings").innerHTML = recs.length === 0 ?
      "<li class=\"hint\">none yet: ● Record starts one</li>" : recs.slice(-8).reverse().map(r =>
      `<li>${r.id} (${r.state}, ${r.poses} poses) ` +
      ["json", "csv", "trc", "npz"].map(f => `<a href="/api/recordings/${r.id}/download?format=${f}${tokenQuery("&")}">${f}</a>`).join(" ") + "</li>"
    ).join("");
    const active = recs.some(r => r.state === "recording");
    document.getElementById("rec-start").disabled = active;
    document.getElementById("rec-stop").disabled = !active;
  } catch (e) { /* ignore */ }
}
async function record(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", ...authHeaders() },
                                body: body ? JSON.stringify(body) : null });
  if (!r.ok) alert((await r.json()).detail || r.statusText);
  refreshRecordings();
}
document.getElementById("rec-start").onclick = () => {
  const name = document.getElementById("rec-name").value.trim();
  record("/api/recordings", name ? { name } : {});
};
document.getElementById("rec-stop").onclick = () => record("/api/recordings/stop");

// The open WebSockets (closed, and so reopened, when the token changes).
const sockets = new Set();
function track(ws) {
  sockets.add(ws);
  ws.addEventListener("close", () => sockets.delete(ws));
  return ws;
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/poses" +
              tokenQuery("?");
  const ws = track(new WebSocket(url));
  const status = document.getElementById("status");
  ws.onopen = () => { status.textContent = "live"; };
  ws.onmessage = ev => {
    pose = JSON.parse(ev.data); poseCount++;
    const lat = pose.latency_ms || {};
    const who = (pose.person_ids || []).map(id => "P" + id).join(" ");
    document.getElementById("pose").textContent = pose.reason ? "no pose: " + pose.reason :
      `#${pose.bundle_seq} ${pose.method} · ${who} from ${pose.views_used.join(", ")} · ${(lat.total || 0).toFixed(1)} ms`;
    canvas.dataset.poses = String(poseCount);
  };
  ws.onclose = () => { status.textContent = "disconnected, retrying…"; setTimeout(connect, 1000); };
}

// Camera previews with the 2D keypoints the pose used (only streamed while this page watches).
const previewCanvases = {};
function connectPreviews() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/preview" +
              tokenQuery("?");
  const ws = track(new WebSocket(url));
  ws.onmessage = ev => {
    const p = JSON.parse(ev.data);
    let c = previewCanvases[p.camera_id];
    if (!c) {
      c = document.createElement("canvas");
      c.title = p.camera_id;
      c.dataset.camera = p.camera_id;
      // Tiles in camera order, whichever camera's frame came first.
      const box = document.getElementById("previews");
      const after = [...box.children].find(t => t.dataset.camera > p.camera_id);
      box.insertBefore(c, after || null);
      previewCanvases[p.camera_id] = c;
    }
    const img = new Image();
    img.onload = () => {
      c.width = p.width; c.height = p.height;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      for (const person of p.people || []) {  // which 2D skeleton went to which person
        g.fillStyle = colour(person.id);
        for (const k of person.keypoints_2d || []) {
          if (k) { g.beginPath(); g.arc(k[0], k[1], 2.5, 0, 2 * Math.PI); g.fill(); }
        }
      }
      g.fillStyle = "#ffffff"; g.fillText(p.camera_id, 4, 12);
    };
    img.src = "data:image/jpeg;base64," + p.jpeg_base64;
  };
  ws.onclose = () => { setTimeout(connectPreviews, 2000); };
}

// A token typed after the page loaded: fetch again and reconnect with it.
document.getElementById("token").addEventListener("change", () => {
  loadCalibration(); refreshRecordings();
  for (const ws of sockets) ws.close();
});

// The scene fills its column, whatever the window's width (drawn at the device's resolution).
function fitCanvas() {
  const width = Math.max(320, document.getElementById("view").clientWidth);
  const height = Math.round(Math.min(width * 2 / 3, window.innerHeight * 0.8));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width; canvas.height = height;
  }
}
window.addEventListener("resize", fitCanvas);
fitCanvas();

loadCalibration();
connectPreviews();
refreshCameras(); refreshRecordings();
setInterval(refreshCameras, 1000); setInterval(refreshRecordings, 3000);
connect();
requestAnimationFrame(draw);
