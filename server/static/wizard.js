// The calibration wizard page: drives /api/wizard and shows what is still missing, in words.
"use strict";

function headers(json) {
  const h = {};
  const t = document.getElementById("token").value.trim();
  if (t) h["Authorization"] = "Bearer " + t;
  if (json) h["Content-Type"] = "application/json";
  return h;
}
async function call(method, path, body, raw) {
  const r = await fetch(path, { method, headers: headers(!raw && body !== undefined),
                                body: raw ? body : (body === undefined ? undefined : JSON.stringify(body)) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : r.statusText);
  return data;
}
function show(s) {
  document.getElementById("step").textContent = "step: " + s.step + (s.ready ? " (ready)" : "");
  document.getElementById("missing").innerHTML = (s.missing || []).map(m => `<li>${m}</li>`).join("");
  const cams = s.cameras || {};
  document.getElementById("cams").innerHTML = Object.keys(cams).map(c =>
    `<tr><td>${c}</td><td>${JSON.stringify(cams[c]).replace(/[{}"]/g, "").replace(/,/g, ", ")}</td></tr>`).join("");
  const rv = s.review || {};
  document.getElementById("review").textContent = rv.rms_px ?
    "reprojection (px): " + Object.entries(rv.rms_px).map(([c, e]) => c + " " + e).join(", ") +
    (rv.board_check ? ` · board check: ${rv.board_check.mean_mm.toFixed(2)} mm between corners (RMS ${rv.board_check.rms_error_mm.toFixed(2)} mm)` : "") : "";
  document.getElementById("saved").textContent = s.saved ? "saved: " + s.saved : "";
}
function fail(e) { document.getElementById("missing").innerHTML = `<li class="error">${e.message}</li>`; }
async function refresh() { try { show(await call("GET", "/api/wizard")); } catch (e) { /* no session yet */ } }

document.getElementById("board").onsubmit = async ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const board = { kind: f.get("kind"), columns: +f.get("columns"), rows: +f.get("rows"),
                  square_m: +f.get("square_mm") / 1000, marker_ratio: +f.get("marker_ratio"),
                  dictionary: f.get("dictionary"), inverted: f.get("inverted") === "on" };
  try { show(await call("POST", "/api/wizard", board)); } catch (e) { fail(e); }
};
document.getElementById("upload").onclick = async () => {
  const files = document.getElementById("videos").files;
  for (const file of files) {
    const camera = file.name.replace(/\.[^.]*$/, "");
    document.getElementById("step").textContent = "searching " + camera + " for the board…";
    try { await call("PUT", "/api/wizard/videos/" + encodeURIComponent(camera), file, true); }
    catch (e) { fail(e); return; }
  }
  document.body.dataset.uploaded = String(files.length);  // every video is in
  refresh();
};
document.getElementById("calibrate").onclick = async () => {
  document.getElementById("step").textContent = "calibrating…";
  try { show(await call("POST", "/api/wizard/calibrate")); } catch (e) { fail(e); }
};
document.getElementById("accept").onclick = async () => {
  const floor = document.getElementById("floor").value;
  try { show(await call("POST", "/api/wizard/accept", floor === "" ? {} : { floor_frame: +floor })); }
  catch (e) { fail(e); }
};
refresh();
setInterval(refresh, 2000);
