// Live count of chosen projects or remaining points on a ballot. Without JavaScript the rules
// are stated above the ballot and the server answers an over-budget ballot with a message
// (keeping what was typed); this only shows the same arithmetic while filling it in.
(function () {
  "use strict";
  var form = document.getElementById("ballot");
  var counter = document.getElementById("ballot-counter");
  if (!form || !counter) { return; }
  var format = new Intl.NumberFormat(document.documentElement.lang || "de");
  var method = form.dataset.method;
  var limit = parseInt(method === "points" ? form.dataset.budget : form.dataset.maxChoices, 10);
  var timer = null;

  function used() {
    if (method !== "points") {
      return form.querySelectorAll("input[name='project']:checked").length;
    }
    var sum = 0;
    form.querySelectorAll("input.ballot__points-input").forEach(function (input) {
      var value = parseInt(input.value, 10);
      if (!isNaN(value) && value > 0) { sum += value; }
    });
    return sum;
  }

  function fill(template, count) {
    return template
      .replace("{count}", format.format(count))
      .replace("{max}", format.format(limit))
      .replace("{left}", format.format(Math.max(limit - count, 0)))
      .replace("{over}", format.format(Math.max(count - limit, 0)));
  }

  function update() {
    var count = used();
    var over = count > limit;
    counter.textContent = fill(over ? counter.dataset.over : counter.dataset.within, count);
    counter.classList.toggle("ballot__counter--over", over);
  }

  counter.hidden = false;
  update();
  // Screen readers hear the count after a short pause, not on every keystroke.
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  });
  form.addEventListener("change", update);
})();
