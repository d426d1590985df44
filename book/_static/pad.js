/* The drawing pad of the "Try it" chapter: the book's network reads a digit in the browser.

   prepare() is nnscratch.images.prepare_digit written again, step by step; forward() is the
   forward pass of the forward chapter, z1 = x W1 + b1, a1 = relu(z1), z2 = a1 W2 + b2 and
   the softmax with the maximum subtracted. The weights come from window.nnscratchPadModel,
   set by the script that nnscratch.export writes at build time. Plain JavaScript: nothing
   is loaded from anywhere, so the page works offline and from file://.

   For automated checks the page sets window.nnscratchPad = {predict, prepare, last}:
   predict(pixels) takes 784 numbers in [0, 1] (a prepared image, row-major) and returns the
   ten probabilities; prepare(gray, width, height, ink = "auto") returns the 784 prepared
   values of a grey-level image (0 black, 1 white; width * height numbers, row-major; ink
   "light", "dark" or "auto", as prepare_digit's ink); last holds
   {label, probabilities} of the drawing on the pad (null while it is blank). */
"use strict";

(() => {
  // The constants of nnscratch.images.
  const SIZE = 28;
  const BOX = 20;
  const INK_THRESHOLD = 0.2;
  const MIN_CONTRAST = 0.1;
  const FRAME_FILL = 0.9;
  const INK_CHOICES = ["auto", "light", "dark"];
  // The pen: its width as a share of the pad's side, close to an MNIST stroke once the
  // digit is scaled into the 20-pixel box.
  const PEN_WIDTH = 0.075;
  const UNITS_SHOWN = 6;

  // ---------------------------------------------------------------- the model file

  function base64Bytes(text) {
    const chars = atob(text);
    const bytes = new Uint8Array(chars.length);
    for (let i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
    return bytes;
  }

  function halfToNumber(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  /* The values of one array of the model file, as nnscratch.export.decode_array gives them. */
  function decodeArray(entry) {
    const bytes = base64Bytes(entry.data);
    const view = new DataView(bytes.buffer);
    const n = entry.shape.reduce((a, b) => a * b, 1);
    const width = {float16: 2, float32: 4, int8: 1, uint8: 1}[entry.encoding];
    if (width === undefined) throw new Error(`unknown encoding ${entry.encoding}`);
    if (bytes.length !== n * width) {
      throw new Error(`${entry.encoding} data of ${bytes.length} bytes, shape ${entry.shape}`);
    }
    const values = new Float64Array(n);
    const columns = entry.shape[entry.shape.length - 1];
    const scale = entry.scale;
    for (let i = 0; i < n; i++) {
      if (entry.encoding === "float16") values[i] = halfToNumber(view.getUint16(2 * i, true));
      else if (entry.encoding === "float32") values[i] = view.getFloat32(4 * i, true);
      else if (entry.encoding === "int8") values[i] = view.getInt8(i) * scale[i % columns];
      else values[i] = bytes[i];
    }
    return values;
  }

  function loadModel(content) {
    const [inputs, hidden, classes] = content.sizes;
    if (content.sizes.length !== 3 || inputs !== SIZE * SIZE) {
      throw new Error(`expected a ${SIZE * SIZE}-h-K network, got sizes ${content.sizes}`);
    }
    const p = content.params;
    return {
      inputs, hidden, classes,
      W1: decodeArray(p.W1), b1: decodeArray(p.b1),
      W2: decodeArray(p.W2), b2: decodeArray(p.b2),
      samples: content.samples && {
        images: decodeArray(content.samples.images), labels: content.samples.labels,
      },
    };
  }

  // ---------------------------------------------------------------- the forward pass

  /* z = x W + b for one row x: W has shape (x.length, b.length), row-major. */
  function affine(x, W, b) {
    const m = b.length;
    const z = Float64Array.from(b);
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      if (xi === 0) continue; // a blank pixel adds nothing
      for (let j = 0, row = i * m; j < m; j++) z[j] += xi * W[row + j];
    }
    return z;
  }

  function relu(z) {
    return z.map((v) => (v > 0 ? v : 0));
  }

  /* The softmax with the maximum subtracted: no exponential overflows. */
  function softmax(z) {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  function forward(model, x) {
    const a1 = relu(affine(x, model.W1, model.b1));
    const z2 = affine(a1, model.W2, model.b2);
    return {a1, z2, p: softmax(z2)};
  }

  // ---------------------------------------------------------------- the preparation

  class BlankImageError extends Error {}

  /* Python's round(): halves go to the even neighbour. */
  function roundHalfEven(v) {
    const r = Math.round(v);
    return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function median(values) {
    const s = Float64Array.from(values).sort();
    const h = s.length >> 1;
    return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
  }

  /* The polarity prepare_digit(gray, ink="auto") assumes (guess_ink): the background is the
     median level, the ink what lies furthest from it; "dark" if the darkest pixel is further
     below the median than the lightest is above it, and "light" (a tie too) otherwise. */
  function guessInk(gray) {
    const background = median(gray);
    let darkest = Infinity;
    let lightest = -Infinity;
    for (const v of gray) {
      darkest = Math.min(darkest, v);
      lightest = Math.max(lightest, v);
    }
    return background - darkest > lightest - background ? "dark" : "light";
  }

  /* The ink (w by h) without a frame, as prepare_digit's _inside_frame: if its four edge
     lines are each at least FRAME_FILL ink (pixels of at least INK_THRESHOLD of the
     strongest), the lines that are, from each side inwards, are cut off; the ink is kept
     whole if there is no frame, or nothing but frame. Returns {ink, w, h}. */
  function insideFrame(ink, w, h) {
    let strongest = 0;
    for (const v of ink) strongest = Math.max(strongest, v);
    const strong = ink.map((v) => (strongest > 0 && v >= INK_THRESHOLD * strongest ? 1 : 0));
    const rowFill = new Float64Array(h);
    const colFill = new Float64Array(w);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        rowFill[r] += strong[r * w + c];
        colFill[c] += strong[r * w + c];
      }
    }
    for (let r = 0; r < h; r++) rowFill[r] /= w;
    for (let c = 0; c < w; c++) colFill[c] /= h;
    const whole = {ink, w, h};
    if (Math.min(rowFill[0], rowFill[h - 1], colFill[0], colFill[w - 1]) < FRAME_FILL) {
      return whole;
    }
    let top = 0;
    let bottom = h;
    let left = 0;
    let right = w;
    while (top < bottom && rowFill[top] >= FRAME_FILL) top++;
    while (bottom > top && rowFill[bottom - 1] >= FRAME_FILL) bottom--;
    while (left < right && colFill[left] >= FRAME_FILL) left++;
    while (right > left && colFill[right - 1] >= FRAME_FILL) right--;
    const insideW = right - left;
    const insideH = bottom - top;
    const inside = new Float64Array(insideW * insideH);
    let inkInside = false;
    for (let r = 0; r < insideH; r++) {
      for (let c = 0; c < insideW; c++) {
        const i = (top + r) * w + left + c;
        inside[r * insideW + c] = ink[i];
        if (strong[i]) inkInside = true;
      }
    }
    return inkInside ? {ink: inside, w: insideW, h: insideH} : whole;
  }

  /* Light ink on 0, strongest ink 1, faint pixels 0, a frame cut off (prepare_digit's steps
     1 and 2; dark: invert first). The result may be smaller than the (w by h) image:
     returns {ink, w, h}. */
  function inkOf(gray, w, h, dark) {
    const levels = dark ? gray.map((v) => 1 - v) : gray;
    const background = median(levels);
    const framed = insideFrame(levels.map((v) => Math.max(v - background, 0)), w, h);
    let contrast = 0;
    for (const v of framed.ink) contrast = Math.max(contrast, v);
    if (contrast < MIN_CONTRAST) {
      throw new BlankImageError(
        `the image is blank: no ink differs from the background by ${MIN_CONTRAST} or more ` +
        `(largest difference ${contrast.toPrecision(3)})`);
    }
    framed.ink = framed.ink.map((v) => v / contrast).map((v) => (v < INK_THRESHOLD ? 0 : v));
    return framed;
  }

  /* (nOut, nIn) weights of a triangle filter widened by the scale factor, rows summing to 1. */
  function resamplingMatrix(nIn, nOut) {
    const ratio = nIn / nOut;
    const support = Math.max(ratio, 1);
    const weights = [];
    for (let o = 0; o < nOut; o++) {
      const centre = (o + 0.5) * ratio;
      const row = new Float64Array(nIn);
      let sum = 0;
      for (let i = 0; i < nIn; i++) {
        row[i] = Math.max(1 - Math.abs(i + 0.5 - centre) / support, 0);
        sum += row[i];
      }
      weights.push(row.map((v) => v / sum));
    }
    return weights;
  }

  /* Resample the (h, w) crop so its larger side is BOX pixels: Rh crop Rw^T, clipped to 1. */
  function scaleIntoBox(crop, h, w) {
    const scale = BOX / Math.max(h, w);
    const outH = Math.max(1, roundHalfEven(h * scale));
    const outW = Math.max(1, roundHalfEven(w * scale));
    const Rh = resamplingMatrix(h, outH);
    const Rw = resamplingMatrix(w, outW);
    const rows = new Float64Array(outH * w); // Rh crop
    for (let o = 0; o < outH; o++) {
      for (let r = 0; r < h; r++) {
        const weight = Rh[o][r];
        if (weight === 0) continue;
        for (let c = 0; c < w; c++) rows[o * w + c] += weight * crop[r * w + c];
      }
    }
    const out = new Float64Array(outH * outW); // (Rh crop) Rw^T
    for (let o = 0; o < outH; o++) {
      for (let q = 0; q < outW; q++) {
        let s = 0;
        for (let c = 0; c < w; c++) s += rows[o * w + c] * Rw[q][c];
        out[o * outW + q] = Math.min(Math.max(s, 0), 1);
      }
    }
    return {patch: out, h: outH, w: outW};
  }

  /* Paste the patch into a 28 x 28 field so its centre of mass lands nearest to (14, 14). */
  function centreByMass({patch, h, w}) {
    let mass = 0;
    let rowMoment = 0;
    let colMoment = 0;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const v = patch[r * w + c];
        mass += v;
        rowMoment += r * v;
        colMoment += c * v;
      }
    }
    const top = Math.floor(SIZE / 2 - rowMoment / mass + 0.5);
    const left = Math.floor(SIZE / 2 - colMoment / mass + 0.5);
    const out = new Float64Array(SIZE * SIZE);
    for (let r = Math.max(top, 0); r < Math.min(top + h, SIZE); r++) {
      for (let c = Math.max(left, 0); c < Math.min(left + w, SIZE); c++) {
        out[r * SIZE + c] = patch[(r - top) * w + (c - left)];
      }
    }
    return out;
  }

  function checkNumbers(values, n, what) {
    if (!values || values.length !== n) {
      throw new Error(`${what} must hold ${n} numbers, got ${values ? values.length : values}`);
    }
    for (let i = 0; i < n; i++) {
      if (!(values[i] >= 0 && values[i] <= 1)) {
        throw new Error(`${what} must hold numbers in [0, 1], found ${values[i]} at ${i}`);
      }
    }
  }

  /* nnscratch.images.prepare_digit: polarity, background, frame, ink threshold, crop,
     scaling into the 20 x 20 box, centre of mass at (14, 14). gray: w * h levels, 0 black,
     1 white; ink: one of INK_CHOICES, "auto" guessing the polarity as guessInk does. */
  function prepare(gray, w, h, ink = "auto") {
    if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0)) {
      throw new Error(`width and height must be positive integers, got ${w} and ${h}`);
    }
    checkNumbers(gray, w * h, "gray");
    if (!INK_CHOICES.includes(ink)) {
      const choices = INK_CHOICES.map((choice) => `'${choice}'`).join(", ");
      throw new Error(`ink must be one of ${choices}, got '${ink}'`);
    }
    const levels = Float64Array.from(gray);
    const dark = (ink === "auto" ? guessInk(levels) : ink) === "dark";
    const strokes = inkOf(levels, w, h, dark);
    let r0 = strokes.h;
    let r1 = -1;
    let c0 = strokes.w;
    let c1 = -1;
    for (let r = 0; r < strokes.h; r++) {
      for (let c = 0; c < strokes.w; c++) {
        if (strokes.ink[r * strokes.w + c] === 0) continue;
        r0 = Math.min(r0, r);
        r1 = Math.max(r1, r);
        c0 = Math.min(c0, c);
        c1 = Math.max(c1, c);
      }
    }
    const ch = r1 - r0 + 1;
    const cw = c1 - c0 + 1;
    const crop = new Float64Array(ch * cw);
    for (let r = 0; r < ch; r++) {
      const from = (r0 + r) * strokes.w + c0;
      crop.set(strokes.ink.subarray(from, from + cw), r * cw);
    }
    return centreByMass(scaleIntoBox(crop, ch, cw));
  }

  // ---------------------------------------------------------------- the page

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /* A 28 x 28 picture: grey levels (0 white, 1 black, as the book's figures show digits) or
     weights (red positive, blue negative, white zero, scaled by the largest magnitude). */
  function paint(canvas, values, kind) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(SIZE, SIZE);
    let limit = 0;
    for (const v of values) limit = Math.max(limit, Math.abs(v));
    const red = [178, 24, 43];
    const blue = [33, 102, 172];
    for (let i = 0; i < SIZE * SIZE; i++) {
      let rgb;
      if (kind === "gray") {
        const level = Math.round(255 * (1 - values[i]));
        rgb = [level, level, level];
      } else {
        const t = limit > 0 ? values[i] / limit : 0;
        const end = t > 0 ? red : blue;
        rgb = end.map((e) => Math.round(255 + (e - 255) * Math.abs(t)));
      }
      image.data.set([...rgb, 255], 4 * i);
    }
    ctx.putImageData(image, 0, 0);
  }

  function smallCanvas(className) {
    const canvas = element("canvas", className);
    canvas.width = SIZE;
    canvas.height = SIZE;
    return canvas;
  }

  class Pad {
    constructor(root, model, api) {
      this.root = root;
      this.model = model;
      this.api = api;
      this.canvas = root.querySelector(".pad-canvas");
      this.ctx = this.canvas.getContext("2d", {willReadFrequently: true});
      this.input = root.querySelector(".pad-input");
      this.answer = root.querySelector(".pad-answer");
      this.note = root.querySelector(".pad-note");
      this.units = root.querySelector(".pad-units");
      this.unitsNote = root.querySelector(".pad-units-note");
      this.unitsHref = document.querySelector('a.reference.internal[href*="#inside-units"]')
        ?.getAttribute("href");
      this.bars = this.makeBars(root.querySelector(".pad-bars"));
      this.stroke = null;
      this.frame = 0;
      this.listen();
      this.clear();
    }

    makeBars(container) {
      const bars = [];
      for (let k = 0; k < this.model.classes; k++) {
        const row = element("div", "pad-bar");
        const fill = element("span", "pad-bar-fill");
        const value = element("span", "pad-bar-value");
        row.append(element("span", "pad-bar-label", String(k)), fill, value);
        container.append(row);
        bars.push({row, fill, value});
      }
      return bars;
    }

    listen() {
      const c = this.canvas;
      c.addEventListener("pointerdown", (e) => this.down(e));
      c.addEventListener("pointermove", (e) => this.move(e));
      c.addEventListener("pointerup", (e) => this.up(e));
      c.addEventListener("pointercancel", (e) => this.up(e));
      this.root.querySelector(".pad-clear").addEventListener("click", () => this.clear());
      const sample = this.root.querySelector(".pad-sample");
      if (this.model.samples) sample.addEventListener("click", () => this.sample());
      else sample.disabled = true;
    }

    point(e) {
      const rect = this.canvas.getBoundingClientRect();
      return [(e.clientX - rect.left) * this.canvas.width / rect.width,
              (e.clientY - rect.top) * this.canvas.height / rect.height];
    }

    down(e) {
      if (e.button !== 0) return;
      e.preventDefault();
      this.canvas.setPointerCapture(e.pointerId);
      this.stroke = {id: e.pointerId, at: this.point(e)};
      this.line(this.stroke.at, this.stroke.at);
      this.forgetSample();
      this.schedule();
    }

    move(e) {
      if (!this.stroke || e.pointerId !== this.stroke.id) return;
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const event of events.length ? events : [e]) {
        const at = this.point(event);
        this.line(this.stroke.at, at);
        this.stroke.at = at;
      }
      this.schedule();
    }

    up(e) {
      if (!this.stroke || e.pointerId !== this.stroke.id) return;
      this.stroke = null;
      cancelAnimationFrame(this.frame);
      this.frame = 0;
      this.update(); // the answer for the finished stroke, at once
    }

    line(from, to) {
      const ctx = this.ctx;
      ctx.strokeStyle = "#000";
      ctx.lineWidth = PEN_WIDTH * this.canvas.width;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(...from);
      ctx.lineTo(...to);
      ctx.stroke();
    }

    /* While drawing, read the pad once per frame at most. */
    schedule() {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.update();
      });
    }

    clear() {
      this.ctx.fillStyle = "#fff";
      this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
      this.forgetSample();
      this.update();
    }

    forgetSample() {
      this.note.textContent = "";
      delete this.note.dataset.sample;
    }

    /* A random test image, one pixel as a block of the pad (dark ink on white, like a pen). */
    sample() {
      const {images, labels} = this.model.samples;
      const index = Math.floor(Math.random() * labels.length);
      const block = this.canvas.width / SIZE;
      for (let r = 0; r < SIZE; r++) {
        for (let c = 0; c < SIZE; c++) {
          const level = 255 - images[index * SIZE * SIZE + r * SIZE + c];
          this.ctx.fillStyle = `rgb(${level}, ${level}, ${level})`;
          this.ctx.fillRect(c * block, r * block, block, block);
        }
      }
      this.note.textContent = `A test image the network never trained on, labelled ` +
                              `${labels[index]}.`;
      this.note.dataset.sample = String(index);
      this.update();
    }

    /* Grey levels of the pad (the pad is grey, red = green = blue), prepared and read. */
    update() {
      const {width, height} = this.canvas;
      const rgba = this.ctx.getImageData(0, 0, width, height).data;
      const gray = new Float64Array(width * height);
      for (let i = 0; i < gray.length; i++) gray[i] = rgba[4 * i] / 255;
      let x;
      try {
        x = prepare(gray, width, height);
      } catch (error) {
        if (!(error instanceof BlankImageError)) throw error;
        this.api.last = null;
        this.show(null);
        return;
      }
      const result = forward(this.model, x);
      const label = argmax(result.p);
      this.api.last = {label, probabilities: Array.from(result.p)};
      this.show({x, label, ...result});
    }

    show(result) {
      this.root.classList.toggle("pad-blank", !result);
      paint(this.input, result ? result.x : new Float64Array(SIZE * SIZE), "gray");
      this.bars.forEach((bar, k) => {
        const p = result ? result.p[k] : 0;
        bar.fill.style.width = `${(100 * p).toFixed(1)}%`;
        bar.value.textContent = result ? `${(100 * p).toFixed(1)}%` : "";
        bar.row.classList.toggle("pad-bar-top", Boolean(result) && k === result.label);
      });
      this.answer.textContent = result ? String(result.label) : "?";
      this.showUnits(result);
    }

    /* The hidden units that push the predicted class's logit up most: a_j W2[j, k]. */
    showUnits(result) {
      this.units.replaceChildren();
      if (!result) {
        this.unitsNote.textContent = "Draw a digit in the box, or press Sample.";
        return;
      }
      const {a1, z2, label: k} = result;
      const {hidden, classes, W1, W2, b2} = this.model;
      const push = Array.from(a1, (a, j) => ({j, a, push: a * W2[j * classes + k]}));
      const top = push.filter((u) => u.push > 0).sort((u, v) => v.push - u.push)
        .slice(0, UNITS_SHOWN);
      const shown = top.reduce((s, u) => s + u.push, 0);
      const active = push.filter((u) => u.a > 0).length;
      this.unitsNote.textContent =
        `The logit of ${k} is z = ${z2[k].toFixed(2)}: the bias ${b2[k].toFixed(2)} plus ` +
        `the votes a_j W2[j, ${k}] of the ${active} active hidden units (of ${hidden}). ` +
        `The ${top.length} largest votes, below, add up to ${shown.toFixed(2)}. For each ` +
        `unit: its incoming weights (red positive, blue negative), and the same weights ` +
        `times the input, which add up, with the unit's bias, to its activation a.`;
      for (const u of top) {
        const tile = element(this.unitsHref ? "a" : "div", "pad-unit");
        if (this.unitsHref) tile.href = this.unitsHref;
        const weights = new Float64Array(SIZE * SIZE);
        const inked = new Float64Array(SIZE * SIZE);
        for (let i = 0; i < weights.length; i++) {
          weights[i] = W1[i * hidden + u.j];
          inked[i] = result.x[i] * weights[i];
        }
        const pictures = element("span", "pad-unit-pictures");
        for (const values of [weights, inked]) {
          const picture = smallCanvas("pad-unit-weights");
          paint(picture, values, "weights");
          pictures.append(picture);
        }
        tile.append(pictures, element("span", "pad-unit-text",
                                      `unit ${u.j}: a = ${u.a.toFixed(2)}\n` +
                                      `vote +${u.push.toFixed(2)}`));
        this.units.append(tile);
      }
    }
  }

  function argmax(values) {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
    return best;
  }

  function start() {
    const root = document.getElementById("nnscratch-pad");
    if (!window.nnscratchPadModel) {
      const note = root?.querySelector(".pad-units-note");
      if (note) note.textContent = "The network's weights (_static/pad/weights.js) did not " +
                                   "load: build the book again.";
      return;
    }
    const model = loadModel(window.nnscratchPadModel);
    const api = {
      predict(pixels) {
        checkNumbers(pixels, model.inputs, "pixels");
        return Array.from(forward(model, pixels).p);
      },
      prepare(gray, width, height, ink = "auto") {
        return Array.from(prepare(gray, width, height, ink));
      },
      last: null,
    };
    window.nnscratchPad = api;
    if (root) new Pad(root, model, api);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
