// Moderation decision: a chosen common reason fills the reason text, which stays editable.
// Without this script the server takes the common reason when the text is left empty.
(function () {
  "use strict";
  var preset = document.getElementById("preset");
  var reason = document.getElementById("reason");
  if (!preset || !reason) {
    return;
  }
  preset.addEventListener("change", function () {
    var option = preset.options[preset.selectedIndex];
    if (option && option.value) {
      reason.value = option.text;
      reason.focus();
    }
  });
})();
