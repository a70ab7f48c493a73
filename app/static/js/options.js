// The "Result" fields (templates/_result_options.html), in the upload form and in the
// "Edit result" dialog: they are kept consistent here, the way the server's rules are:
// a background photo only with "Photo", JPEG only for results without transparency, a
// margin only when cropping. ibp.resultOptions(fieldset) also sets and reads them.
(function () {
  "use strict";

  function resultOptions(fieldset) {
    // The outputs without transparency, which JPEG can hold (the server's list, in the page).
    const OPAQUE = (fieldset.dataset.opaque || "").split(" ");
    const field = function (name) { return fieldset.querySelector('[name="' + name + '"]'); };
    const outputs = Array.from(fieldset.querySelectorAll('input[name="output"]'));
    const colour = field("background");
    const backdrop = field("background_image");
    const crop = field("crop");
    const margin = field("crop_margin");
    const format = field("format");
    const refine = field("refine_edges");
    const jpeg = format.querySelector('option[value="jpeg"]');
    const jpegReason = fieldset.querySelector(".jpeg-reason");
    const backdropKept = fieldset.querySelector(".backdrop-kept");
    let keptBackdrop = false;

    function output() {
      const checked = outputs.find(function (radio) { return radio.checked; });
      return checked ? checked.value : "transparent";
    }

    function sync() {
      const chosen = output();
      backdrop.disabled = chosen !== "image";
      if (backdropKept) backdropKept.hidden = !keptBackdrop;
      const opaque = OPAQUE.indexOf(chosen) >= 0;
      jpeg.disabled = !opaque;
      jpegReason.hidden = opaque;
      // A hidden description is still read out when named: name it only while it applies.
      if (opaque) format.removeAttribute("aria-describedby");
      else format.setAttribute("aria-describedby", jpegReason.id);
      // The choice that no longer fits falls back to the default format.
      if (!opaque && format.value === "jpeg") format.value = "png";
      margin.disabled = !crop.checked;
    }

    // Picking a colour means wanting the colour output.
    colour.addEventListener("input", function () {
      fieldset.querySelector('input[name="output"][value="color"]').checked = true;
      sync();
    });
    outputs.forEach(function (radio) { radio.addEventListener("change", sync); });
    crop.addEventListener("change", sync);
    sync();

    return {
      output: output,
      // Whether a result of `name` has no transparency (no checkerboard behind it).
      opaque: function (name) { return OPAQUE.indexOf(name) >= 0; },
      backdropFile: function () { return backdrop.files.length ? backdrop.files[0] : null; },
      // Show a record's options (as the server stores them) in the fields.
      set: function (options) {
        outputs.forEach(function (radio) { radio.checked = radio.value === options.output; });
        colour.value = options.background || "#ffffff";
        crop.checked = options.crop;
        margin.value = String(options.cropMargin);
        format.value = options.format;
        refine.checked = options.refineEdges;
        backdrop.value = "";
        keptBackdrop = options.hasBackdrop;
        sync();
      },
      // Every option, stated: a field left out of an edit would keep the record's value.
      formData: function () {
        const data = new FormData();
        data.set("output", output());
        data.set("background", colour.value);
        data.set("crop", crop.checked ? "true" : "false");
        if (crop.checked) data.set("crop_margin", margin.value.trim());
        data.set("format", format.value);
        data.set("refine_edges", refine.checked ? "true" : "false");
        const file = output() === "image" && backdrop.files.length ? backdrop.files[0] : null;
        if (file) data.set("background_image", file, file.name);
        return data;
      },
      hasKeptBackdrop: function () { return keptBackdrop; },
      focus: function () {
        const checked = outputs.find(function (radio) { return radio.checked; }) || outputs[0];
        checked.focus();
      },
    };
  }

  window.ibp.resultOptions = resultOptions;
})();
