// The clip viewer: a cine player per clip (canvas), scrubber, mask overlay, area-plot cursor, keyboard shortcuts.
// Reads its clips from <script type="application/json" id="clip-viewer-data"> (ViewerContext.script_data).
// Each player's element carries its state for the page and for tests: data-frame (the frame asked for),
// data-shown ("<frame>:<0|1 overlay>" once that frame is drawn), data-playing, data-overlay.
"use strict";

(function () {
  const root = document.querySelector(".clip-viewer");
  const dataNode = document.getElementById("clip-viewer-data");
  if (!root || !dataNode) {
    return;
  }
  const clips = JSON.parse(dataNode.textContent).clips;
  const PRELOAD_AHEAD = 24;
  const MAX_IMAGES = 96;
  const MIN_FRAME_MS = 15;

  function Player(element, clip) {
    this.el = element;
    this.clip = clip;
    this.canvas = element.querySelector("canvas.frame");
    this.context = this.canvas.getContext("2d");
    this.scrubber = element.querySelector("input.scrubber");
    this.label = element.querySelector("output.frame-label");
    this.playButton = element.querySelector("button.play");
    this.overlayBox = element.querySelector("input.overlay");
    this.cursor = element.querySelector("line.area-cursor");
    this.frame = 0;
    this.overlay = false;
    this.playing = false;
    this.timer = null;
    this.images = { plain: new Map(), overlay: new Map() };
    this.wire();
  }

  Player.prototype.url = function (index, overlay) {
    const template = overlay ? this.clip.overlay_url : this.clip.frame_url;
    return template.replace("{frame}", String(index));
  };

  // The decoded image of a frame (a promise). At most MAX_IMAGES per variant are held (the least recently
  // used are dropped; the browser's HTTP cache keeps their JPEGs), so a long cine cannot exhaust memory.
  Player.prototype.image = function (index, overlay) {
    const store = this.images[overlay ? "overlay" : "plain"];
    let found = store.get(index);
    if (found) {
      store.delete(index);
    } else {
      const img = new Image();
      img.src = this.url(index, overlay);
      found = img.decode().then(function () { return img; });
      found.catch(function () { store.delete(index); });
    }
    store.set(index, found);
    while (store.size > MAX_IMAGES) {
      store.delete(store.keys().next().value);
    }
    return found;
  };

  // Fetch the PRELOAD_AHEAD frames after the current one (wrapping), for the active player only.
  Player.prototype.preloadAhead = function () {
    if (!this.el.classList.contains("active")) {
      return;
    }
    const store = this.images[this.overlay ? "overlay" : "plain"];
    const ahead = Math.min(PRELOAD_AHEAD, this.clip.frames - 1);
    for (let k = 1; k <= ahead; k++) {
      const index = (this.frame + k) % this.clip.frames;
      if (!store.has(index)) {
        this.image(index, this.overlay);
      }
    }
  };

  Player.prototype.show = function (index) {
    const frames = this.clip.frames;
    this.frame = ((index % frames) + frames) % frames;
    const frame = this.frame;
    const overlay = this.overlay;
    this.el.dataset.frame = String(frame);
    this.scrubber.value = String(frame);
    this.label.textContent = "frame " + (frame + 1) + " / " + frames;
    if (this.cursor && this.clip.frame_x) {
      const x = String(this.clip.frame_x[frame]);
      this.cursor.setAttribute("x1", x);
      this.cursor.setAttribute("x2", x);
    }
    const self = this;
    return this.image(frame, overlay).then(function (img) {
      if (self.frame === frame && self.overlay === overlay) {
        self.context.drawImage(img, 0, 0);
        self.el.dataset.shown = frame + ":" + (overlay ? 1 : 0);
        self.preloadAhead();
      }
    });
  };

  Player.prototype.step = function (delta) {
    this.pause();
    this.show(this.frame + delta);
  };

  Player.prototype.setOverlay = function (on) {
    if (!this.clip.overlay_url) {
      return;
    }
    this.overlay = on;
    this.overlayBox.checked = on;
    this.el.dataset.overlay = String(on);
    this.show(this.frame);
  };

  Player.prototype.play = function () {
    if (this.playing || this.clip.frames < 2) {
      return;
    }
    this.playing = true;
    this.el.dataset.playing = "true";
    this.playButton.textContent = "Pause";
    this.playButton.setAttribute("aria-pressed", "true");
    this.tick();
  };

  Player.prototype.tick = function () {
    if (!this.playing) {
      return;
    }
    const times = this.clip.frame_times_s;
    const current = this.frame;
    const next = (current + 1) % this.clip.frames;
    const waitMs = next === 0 ? 300 : Math.max(MIN_FRAME_MS, 1000 * (times[next] - times[current]));
    const self = this;
    this.timer = window.setTimeout(function () {
      self.show(next).then(function () { self.tick(); }, function () { self.pause(); });
    }, waitMs);
  };

  Player.prototype.pause = function () {
    this.playing = false;
    window.clearTimeout(this.timer);
    this.el.dataset.playing = "false";
    this.playButton.textContent = "Play";
    this.playButton.setAttribute("aria-pressed", "false");
  };

  Player.prototype.toggle = function () {
    if (this.playing) {
      this.pause();
    } else {
      this.play();
    }
  };

  Player.prototype.wire = function () {
    const self = this;
    this.playButton.addEventListener("click", function () { self.toggle(); });
    this.scrubber.addEventListener("input", function () {
      self.pause();
      self.show(Number(self.scrubber.value));
    });
    this.overlayBox.addEventListener("change", function () { self.setOverlay(self.overlayBox.checked); });
    this.el.querySelectorAll("circle.key-frame").forEach(function (marker) {
      marker.addEventListener("click", function () {
        self.pause();
        self.show(Number(marker.dataset.frame));
      });
    });
  };

  const players = Array.from(root.querySelectorAll(".clip-player")).map(function (el, i) {
    return new Player(el, clips[i]);
  });
  let active = 0;
  const shortcuts = root.querySelector(".shortcuts");

  function activate(index, scroll) {
    if (!players.length) {
      return;
    }
    active = ((index % players.length) + players.length) % players.length;
    players.forEach(function (p, i) {
      p.el.classList.toggle("active", i === active);
      if (i !== active) {
        p.pause();
      }
    });
    root.querySelectorAll("button.clip-link").forEach(function (b) {
      b.setAttribute("aria-current", Number(b.dataset.clip) === active ? "true" : "false");
    });
    players[active].preloadAhead();
    if (scroll) {
      players[active].el.scrollIntoView({ block: "nearest" });
    }
  }

  players.forEach(function (p, i) {
    p.show(0);
    p.el.addEventListener("pointerdown", function () { activate(i, false); });
  });
  root.querySelectorAll("button.clip-link").forEach(function (button) {
    button.addEventListener("click", function () { activate(Number(button.dataset.clip), true); });
  });
  root.querySelectorAll(".leg-diagram g.segment").forEach(function (segment) {
    const match = players.findIndex(function (p) {
      return p.clip.segment === segment.dataset.segment &&
        (p.clip.side === segment.dataset.side || segment.dataset.side === "unassigned");
    });
    if (match >= 0) {
      segment.classList.add("has-clip");
      segment.addEventListener("click", function () { activate(match, true); });
    }
  });
  activate(0, false);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || window.dvtusKeys.typing(event.target)) {
      return;
    }
    const player = players[active];
    let handled = true;
    if (event.key === "?") {
      shortcuts.hidden = !shortcuts.hidden;
    } else if (event.key === "Escape" && !shortcuts.hidden) {
      shortcuts.hidden = true;
    } else if (!player) {
      handled = false;
    } else if (event.key === " ") {
      player.toggle();
    } else if (event.key === "ArrowRight") {
      player.step(1);
    } else if (event.key === "ArrowLeft") {
      player.step(-1);
    } else if (event.key === "o" || event.key === "O") {
      player.setOverlay(!player.overlay);
    } else if (event.key === "]") {
      activate(active + 1, true);
    } else if (event.key === "[") {
      activate(active - 1, true);
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
    }
  });
})();
