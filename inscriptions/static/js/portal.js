/* Progressive enhancement for the registration form: hide a conditional question while the
   answer it depends on does not call for it. Without this script every question is shown with
   a sentence saying when to answer it, and the server decides anyway. */
(function () {
  "use strict";

  function answers(form, name) {
    var values = [];
    var asked = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name !== name) {
        return;
      }
      asked = true;
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) {
          values.push(el.value);
        }
      } else {
        values.push(el.value);
      }
    });
    if (asked && values.length === 0) {
      values.push("");
    }
    return values;
  }

  function update(form) {
    var wrappers = form.querySelectorAll("[data-show-if]");
    Array.prototype.forEach.call(wrappers, function (wrapper) {
      var wanted = (wrapper.getAttribute("data-show-if-values") || "").split(" ");
      var given = answers(form, wrapper.getAttribute("data-show-if"));
      var show = given.some(function (value) {
        return wanted.indexOf(value) !== -1;
      });
      // A field in error stays visible so its message is never hidden.
      wrapper.hidden = !show && !wrapper.classList.contains("field--error");
    });
  }

  var forms = document.querySelectorAll("form[data-conditional]");
  Array.prototype.forEach.call(forms, function (form) {
    update(form);
    form.addEventListener("change", function () {
      update(form);
    });
  });
})();
