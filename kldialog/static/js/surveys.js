// Randomised response for sensitive yes/no survey questions (progressive enhancement).
//
// The person's true answer never leaves the browser: the radio buttons of such a question have
// no name, so the form never sends them. When one is chosen, this script tosses a coin with the
// browser's cryptographic random source: with probability 1/2 (data-rr-truth) the true answer
// is reported, otherwise a second fair coin reports yes or no. Only that report is put into the
// hidden field the server reads. Without JavaScript the question stays hidden and is skipped.
(function () {
  "use strict";

  function randomUnit() {
    var buffer = new Uint32Array(1);
    window.crypto.getRandomValues(buffer);
    return buffer[0] / 4294967296;
  }

  function setUp(block) {
    var question = block.querySelector(".survey-rr__question");
    var fallback = block.querySelector(".survey-rr__nojs");
    var reported = block.querySelector(".survey-rr__reported");
    var status = block.querySelector(".survey-rr__status");
    if (!question || !reported || !window.crypto || !window.crypto.getRandomValues) { return; }
    var truth = parseFloat(block.dataset.rrTruth || "0.5");
    question.hidden = false;
    if (fallback) { fallback.hidden = true; }
    block.querySelectorAll("input[data-rr-value]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) { return; }
        var answer = randomUnit() < truth ? radio.dataset.rrValue : (randomUnit() < 0.5 ? "1" : "0");
        reported.value = answer;
        if (status) { status.textContent = status.dataset.rrDone || ""; }
      });
    });
  }

  document.querySelectorAll(".survey-rr").forEach(setUp);
})();
