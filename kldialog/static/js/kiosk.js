// Kiosk countdown (progressive enhancement). The server ends an idle session by itself on the
// next request, and without JavaScript a <noscript> refresh goes to the finished page; this
// shows the time left, counts keys and taps as activity (telling the server now and then)
// and, when the time is up, sends the "end session" form so the screen is cleared at once.
(function () {
  "use strict";
  var form = document.querySelector("[data-kiosk-end]");
  if (!form || !form.hasAttribute("data-countdown")) { return; }
  var total = parseInt(form.getAttribute("data-seconds"), 10);
  if (!(total > 0)) { return; }
  var timer = document.querySelector("[data-kiosk-timer]");
  var announce = document.querySelector("[data-kiosk-announce]");
  var token = form.querySelector("input[name='csrf_token']").value;
  var reason = form.querySelector("input[name='reason']");
  var aliveUrl = form.getAttribute("data-alive");
  var doneUrl = form.getAttribute("data-done");
  var deadline = Date.now() + total * 1000;
  var lastPing = Date.now();
  // Often enough that the server's clock is never far behind (10 s for 3 minutes).
  var pingEvery = Math.min(10000, total * 250);
  var finished = false;

  function clock(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function finish() {
    if (finished) { return; }
    finished = true;
    reason.value = "timeout";
    form.submit();
  }

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (timer) {
      timer.hidden = false;
      timer.textContent = timer.getAttribute("data-template").replace("%s", clock(left));
    }
    if (announce && (left === 60 || left === 20)) {
      announce.textContent = announce.getAttribute("data-template").replace("%s", String(left));
    }
    if (left <= 0) { finish(); }
  }

  function activity() {
    if (finished) { return; }
    deadline = Date.now() + total * 1000;
    if (announce) { announce.textContent = ""; }
    if (Date.now() - lastPing < pingEvery) { return; }
    lastPing = Date.now();
    // The server's idle clock moves only with requests: tell it the person is still here.
    fetch(aliveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": token },
      credentials: "same-origin",
      redirect: "manual"
    }).then(function (response) {
      if (response.status !== 204) { window.location.assign(doneUrl); }
    }).catch(function () { /* offline: the server decides at the next request */ });
  }

  ["keydown", "pointerdown", "input", "wheel"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true });
  });
  tick();
  window.setInterval(tick, 1000);
}());
