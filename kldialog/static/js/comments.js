// Live character counter for comment forms. Without JavaScript the hint states the limit and
// the server refuses longer text with a message (keeping the text).
(function () {
  "use strict";
  var format = new Intl.NumberFormat(document.documentElement.lang || "de");

  function count(text) {
    return Array.from(text.replace(/\r\n?/g, "\n").trim()).length;
  }

  function setUp(area) {
    var counter = document.getElementById(area.dataset.counter);
    var status = document.getElementById(area.id + "-status");
    if (!counter) { return; }
    var limit = parseInt(area.dataset.maxlength, 10);
    var timer = null;

    function message() {
      var rest = limit - count(area.value);
      if (rest === 1) { return [counter.dataset.leftOne, false]; }
      if (rest === -1) { return [counter.dataset.overOne, true]; }
      var template = rest >= 0 ? counter.dataset.left : counter.dataset.over;
      return [template.replace("{count}", format.format(Math.abs(rest))), rest < 0];
    }

    function update() {
      var result = message();
      counter.textContent = result[0];
      counter.classList.toggle("comment-counter--over", result[1]);
      if (status) {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { status.textContent = result[0]; }, 750);
      }
    }

    area.addEventListener("input", update);
    update();
  }

  document.querySelectorAll("textarea[data-maxlength][data-counter]").forEach(setUp);
})();
