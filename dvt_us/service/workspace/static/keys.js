// What the reading keys of every page share; loaded before clip_viewer.js and review.js.
"use strict";

window.dvtusKeys = {
  // True when a key press goes to a field the user is typing in, where the reading keys must not act.
  typing: function (target) {
    const tag = target && target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
      return true;
    }
    return tag === "INPUT" && !["range", "checkbox", "button"].includes(target.type);
  },
};
