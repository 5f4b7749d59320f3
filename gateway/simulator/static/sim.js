// Kibubu's phone simulator, made better by a few lines: the on-screen keypad
// types into its handset's field, and the SMS inboxes refresh every few
// seconds. Without this script the page still works: type on the keyboard,
// press Call, reload to see new SMS.
(function () {
  "use strict";
  var inboxPollMillis = 2000;
  document.documentElement.classList.add("js");
  document.querySelectorAll(".phone form").forEach(function (form) {
    var field = form.querySelector("input[name=typed]");
    form.querySelectorAll("button[data-key]").forEach(function (b) {
      b.addEventListener("click", function () {
        var k = b.getAttribute("data-key");
        field.value = k === "del" ? field.value.slice(0, -1) : field.value + k;
        field.focus();
      });
    });
  });
  var target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) {
    var f = target.querySelector("input[name=typed]");
    if (f) f.focus();
  }
  var boxes = document.querySelectorAll("[data-inbox]");
  function poll() {
    if (document.hidden) return;
    boxes.forEach(function (box) {
      fetch(box.getAttribute("data-inbox"), { cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== box.innerHTML) box.innerHTML = html;
        })
        .catch(function () {});
    });
  }
  if (boxes.length) setInterval(poll, inboxPollMillis);
})();
