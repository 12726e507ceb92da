/* In-browser demos of the models trained while this site was built (docs/_ext/demos.py).
 *
 * Each `.mlcheatsheet-demo` element names its export (`data-demo`: demo.json, next to the
 * .onnx files) and where onnxruntime-web lives (`data-ort`). After the page has loaded,
 * the widget is built from demo.json; onnxruntime-web (its WebAssembly build, one thread)
 * is fetched only when a demo comes near the screen. All inference is onnxruntime-web's
 * InferenceSession: the exported graphs take and return pixels in [0, 1], so this file only
 * moves pixels, draws, and prepares the reader's drawing the way MNIST digits were prepared.
 * The one exception is the diffusion model, whose network returns a velocity: its solver
 * loop (a few lines of arithmetic per step) runs here, so the reader sees every step.
 */
(() => {
  'use strict';

  const roots = [...document.querySelectorAll('.mlcheatsheet-demo[data-demo]')];
  if (!roots.length) return;

  // ---------------------------------------------------------------- small helpers
  let uid = 0;
  const nextId = (stem) => `mlcheatsheet-demo-${stem}-${++uid}`;

  /** An element with attributes (`class`, `text`, `on<event>`, others verbatim) and children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    node.append(...children);
    return node;
  }

  const clamp01 = (v) => (v < 0 ? 0 : v > 1 ? 1 : v);
  const percent = (p) => `${(100 * p).toFixed(p >= 0.995 || p < 0.0005 ? 0 : 1)}%`;

  /** A seeded uniform generator (mulberry32) and standard normals from it (Box–Muller). */
  function uniform(seed) {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function normal(seed) {
    const rand = uniform(seed);
    let spare = null;
    return () => {
      if (spare !== null) {
        const value = spare;
        spare = null;
        return value;
      }
      let u = rand();
      while (u === 0) u = rand();
      const radius = Math.sqrt(-2 * Math.log(u));
      const angle = 2 * Math.PI * rand();
      spare = radius * Math.sin(angle);
      return radius * Math.cos(angle);
    };
  }
  const normals = (gauss, count) => Float32Array.from({ length: count }, gauss);

  /** The point at `t` on the great-circle arc from `a` to `b` (slerp), as the gallery's
   * interpolation figures use: a straight line between two Gaussian noise vectors passes
   * through short vectors the generator never saw in training. */
  function slerp(a, b, t) {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    const cos = Math.min(1 - 1e-7, Math.max(-1 + 1e-7, dot / Math.sqrt(na * nb)));
    const omega = Math.acos(cos);
    const wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
    return a.map((v, i) => wa * v + wb * b[i]);
  }

  /** Run `task` at most once per animation frame; calls made while it runs schedule one more run.
   * `root.dataset.busy` is set until the last requested run has finished. */
  function throttled(root, task) {
    let state = 'idle';
    let again = false;
    const go = async () => {
      state = 'running';
      try {
        do {
          again = false;
          await task();
        } while (again);
      } catch (error) {
        fail(root, error);
      }
      state = 'idle';
      delete root.dataset.busy;
    };
    return () => {
      if (state === 'idle') {
        state = 'queued';
        root.dataset.busy = '1';
        requestAnimationFrame(go);
      } else if (state === 'running') {
        again = true;
      }
    };
  }

  /** Shows image `index` of `data` (N×C×H×W, values in [0, 1], shape `spec`) on `canvas`. */
  function paint(canvas, data, index, spec) {
    const { channels, height, width } = spec;
    const plane = height * width;
    const start = index * channels * plane;
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(width, height);
    for (let i = 0; i < plane; i++) {
      for (let k = 0; k < 3; k++) {
        const channel = channels === 1 ? 0 : k;
        image.data[4 * i + k] = Math.round(255 * clamp01(data[start + channel * plane + i]));
      }
      image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  /** The image output of a model's results: `image`, or its only output. */
  const image = (result) => (result.image || Object.values(result)[0]).data;

  function pixels(spec, label, size = 'small') {
    return el('canvas', {
      width: spec.width, height: spec.height, class: `mlcheatsheet-demo-pixels is-${size}`, role: 'img', 'aria-label': label,
    });
  }

  function figure(canvas, caption) {
    return el('figure', { class: 'mlcheatsheet-demo-figure' }, canvas, el('figcaption', { text: caption }));
  }

  // ---------------------------------------------------------------- onnxruntime-web
  let ortPromise = null;

  /** Inject onnxruntime-web's script once (WebAssembly only, one thread) and resolve to `ort`. */
  function loadOrt(folder) {
    if (!ortPromise) {
      ortPromise = new Promise((resolve, reject) => {
        if (typeof WebAssembly !== 'object') {
          reject(new Error('this browser does not support WebAssembly'));
          return;
        }
        const base = new URL(folder, document.baseURI).href;
        const script = el('script', { src: `${base}ort.wasm.min.js`, async: true });
        script.addEventListener('load', () => {
          const ort = window.ort;
          if (!ort || !ort.InferenceSession) {
            reject(new Error('onnxruntime-web did not start'));
            return;
          }
          ort.env.logLevel = 'error';
          ort.env.wasm.numThreads = 1;
          ort.env.wasm.proxy = false;
          ort.env.wasm.wasmPaths = base;
          resolve(ort);
        });
        script.addEventListener('error', () => reject(new Error('onnxruntime-web could not be downloaded')));
        document.head.append(script);
      });
    }
    return ortPromise;
  }

  // One WebAssembly instance serves every session: run one inference at a time.
  let queue = Promise.resolve();
  function serial(job) {
    const result = queue.then(job);
    queue = result.catch(() => undefined);
    return result;
  }

  async function session(ort, url) {
    return ort.InferenceSession.create(url, {
      executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3,
    });
  }

  // ---------------------------------------------------------------- the drawing pad
  const PAD = 280; // pixels of the pad's drawing surface (ten per model pixel)
  const BRUSH = 22; // the brush's diameter on that surface

  /** A square canvas to draw a white digit on black: pointer (mouse, touch, pen) and keyboard. */
  class Pad {
    constructor(label, onChange) {
      this.onChange = onChange;
      const help = el('p', {
        id: nextId('pad-help'), class: 'mlcheatsheet-demo-help',
        text: 'Draw with a mouse, a finger or a pen. Keyboard: the arrow keys move the cursor '
          + '(Shift: faster), Space or Enter puts the pen down or lifts it, Escape or Delete clears.',
      });
      this.canvas = el('canvas', {
        width: PAD, height: PAD, tabindex: 0, class: 'mlcheatsheet-demo-pad', role: 'application',
        'aria-roledescription': 'drawing pad', 'aria-label': label, 'aria-describedby': help.id,
      });
      this.cursor = el('span', { class: 'mlcheatsheet-demo-cursor', 'aria-hidden': 'true' });
      this.frame = el('div', { class: 'mlcheatsheet-demo-padframe' }, this.canvas, this.cursor);
      this.help = help;
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
      this.position = { x: PAD / 2, y: PAD / 2 };
      this.penDown = false;
      this.pointer = null;
      this.last = null;
      this.clear(false);
      this.listen();
    }

    clear(notify = true) {
      this.ctx.fillStyle = '#000';
      this.ctx.fillRect(0, 0, PAD, PAD);
      this.penDown = false;
      this.showCursor();
      if (notify) this.onChange();
    }

    stroke(from, to) {
      const ctx = this.ctx;
      ctx.strokeStyle = '#fff';
      ctx.fillStyle = '#fff';
      ctx.lineWidth = BRUSH;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      if (from.x === to.x && from.y === to.y) {
        ctx.beginPath();
        ctx.arc(to.x, to.y, BRUSH / 2, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.beginPath();
        ctx.moveTo(from.x, from.y);
        ctx.lineTo(to.x, to.y);
        ctx.stroke();
      }
    }

    at(event) {
      const box = this.canvas.getBoundingClientRect();
      return { x: (event.clientX - box.left) * (PAD / box.width), y: (event.clientY - box.top) * (PAD / box.height) };
    }

    listen() {
      const canvas = this.canvas;
      canvas.addEventListener('pointerdown', (event) => {
        if (event.pointerType === 'mouse' && event.button !== 0) return;
        this.cursorShown = false;
        this.showCursor();
        this.pointer = event.pointerId;
        canvas.setPointerCapture(event.pointerId);
        this.last = this.at(event);
        this.stroke(this.last, this.last);
        this.onChange();
      });
      canvas.addEventListener('pointermove', (event) => {
        if (event.pointerId !== this.pointer) return;
        const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
        for (const part of coalesced.length ? coalesced : [event]) {
          const point = this.at(part);
          this.stroke(this.last, point);
          this.last = point;
        }
        this.onChange();
      });
      const end = (event) => {
        if (event.pointerId === this.pointer) this.pointer = null;
      };
      canvas.addEventListener('pointerup', end);
      canvas.addEventListener('pointercancel', end);
      canvas.addEventListener('lostpointercapture', end);

      canvas.addEventListener('focus', () => {
        this.cursorShown = canvas.matches(':focus-visible');
        this.showCursor();
      });
      canvas.addEventListener('blur', () => {
        this.cursorShown = false;
        this.showCursor();
      });
      canvas.addEventListener('keydown', (event) => {
        const step = (PAD / 28) * (event.shiftKey ? 4 : 1);
        const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
        const from = { ...this.position };
        if (event.key in moves) {
          const [dx, dy] = moves[event.key];
          this.position = {
            x: Math.min(PAD, Math.max(0, this.position.x + dx)), y: Math.min(PAD, Math.max(0, this.position.y + dy)),
          };
          if (this.penDown) {
            this.stroke(from, this.position);
            this.onChange();
          }
        } else if (event.key === ' ' || event.key === 'Enter') {
          this.penDown = !this.penDown;
          if (this.penDown) {
            this.stroke(this.position, this.position);
            this.onChange();
          }
        } else if (event.key === 'Escape' || event.key === 'Delete' || event.key === 'Backspace') {
          this.clear();
        } else {
          return;
        }
        event.preventDefault();
        this.cursorShown = true;
        this.showCursor();
      });
    }

    showCursor() {
      const style = this.cursor.style;
      style.display = this.cursorShown ? 'block' : 'none';
      style.left = `${(100 * this.position.x) / PAD}%`;
      style.top = `${(100 * this.position.y) / PAD}%`;
      style.width = style.height = `${(100 * BRUSH) / PAD}%`;
      this.cursor.classList.toggle('is-down', this.penDown);
    }

    /** The drawing as the MNIST digits were prepared, or null when nothing is drawn.
     *
     * The ink's bounding box is scaled (area-averaged) so its longer side is 20 of the 28
     * pixels, keeping its aspect ratio, and placed in the 28×28 frame with its centre of mass
     * at the frame's centre. Returns C×H×W values in [0, 1], white digit on black. */
    digit(spec) {
      const { channels, height, width } = spec;
      const rgba = this.ctx.getImageData(0, 0, PAD, PAD).data;
      const ink = new Float32Array(PAD * PAD);
      let left = PAD, right = -1, top = PAD, bottom = -1;
      for (let y = 0; y < PAD; y++) {
        for (let x = 0; x < PAD; x++) {
          const v = rgba[4 * (y * PAD + x)] / 255;
          ink[y * PAD + x] = v;
          if (v > 0.05) {
            if (x < left) left = x;
            if (x > right) right = x;
            if (y < top) top = y;
            if (y > bottom) bottom = y;
          }
        }
      }
      if (right < 0) return null;
      const boxW = right - left + 1, boxH = bottom - top + 1;
      const fit = Math.round((20 / 28) * Math.min(height, width));
      const scale = fit / Math.max(boxW, boxH);
      const w = Math.max(1, Math.min(width, Math.round(boxW * scale)));
      const h = Math.max(1, Math.min(height, Math.round(boxH * scale)));
      const small = resample(ink, PAD, left, top, boxW, boxH, w, h);
      let mass = 0, mx = 0, my = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = small[y * w + x];
          mass += v;
          mx += v * (x + 0.5);
          my += v * (y + 0.5);
        }
      }
      const ox = Math.min(width - w, Math.max(0, Math.round(width / 2 - mx / mass)));
      const oy = Math.min(height - h, Math.max(0, Math.round(height / 2 - my / mass)));
      const plane = height * width;
      const out = new Float32Array(channels * plane);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let c = 0; c < channels; c++) out[c * plane + (oy + y) * width + ox + x] = small[y * w + x];
        }
      }
      return out;
    }
  }

  /** For each of `m` target cells, the source cells it covers and their share of it (area averaging). */
  function coverage(n, m) {
    const ratio = n / m;
    const rows = [];
    for (let j = 0; j < m; j++) {
      const a = j * ratio, b = (j + 1) * ratio;
      const row = [];
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        const overlap = Math.min(b, i + 1) - Math.max(a, i);
        if (overlap > 0) row.push([i, overlap / ratio]);
      }
      rows.push(row);
    }
    return rows;
  }

  /** The `boxW`×`boxH` window at (`left`, `top`) of a `stride`-wide image, averaged down to `w`×`h`. */
  function resample(source, stride, left, top, boxW, boxH, w, h) {
    const across = coverage(boxW, w), down = coverage(boxH, h);
    const rows = new Float32Array(boxH * w);
    for (let y = 0; y < boxH; y++) {
      const line = (top + y) * stride + left;
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (const [i, share] of across[x]) sum += share * source[line + i];
        rows[y * w + x] = sum;
      }
    }
    const out = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (const [i, share] of down[y]) sum += share * rows[i * w + x];
        out[y * w + x] = clamp01(sum);
      }
    }
    return out;
  }

  function padControls(pad, extra = []) {
    const clear = el('button', { type: 'button', class: 'mlcheatsheet-demo-button', text: 'Clear', onclick: () => pad.clear() });
    return el('div', { class: 'mlcheatsheet-demo-controls' }, clear, ...extra);
  }

  // ---------------------------------------------------------------- the demos
  // Each builder lays out its widget at once and returns `start(ort)`, which loads the
  // sessions and brings the widget to life once onnxruntime-web is there.

  function classifierDemo(root, demo, files, io) {
    const spec = demo.image;
    const classes = demo.classes || [];
    const status = el('p', { class: 'mlcheatsheet-demo-prediction', 'aria-live': 'polite', text: 'Loading the model…' });
    const seen = pixels(spec, 'Your drawing as the model receives it');
    const bars = classes.map((name) => {
      const fill = el('span', { class: 'mlcheatsheet-demo-fill' });
      const value = el('span', { class: 'mlcheatsheet-demo-value', text: '–' });
      const row = el('li', { class: 'mlcheatsheet-demo-bar' },
        el('span', { class: 'mlcheatsheet-demo-label', text: name }), el('span', { class: 'mlcheatsheet-demo-track' }, fill), value);
      return { row, fill, value };
    });
    let model = null;
    let ortLib = null;
    const update = throttled(root, async () => {
      if (!model) return;
      const x = pad.digit(spec);
      if (!x) {
        seen.getContext('2d').clearRect(0, 0, spec.width, spec.height);
        for (const bar of bars) {
          bar.fill.style.width = '0';
          bar.value.textContent = '–';
          bar.row.classList.remove('is-top');
        }
        status.textContent = 'Draw in the box to see the probability of each class.';
        delete root.dataset.top;
        return;
      }
      paint(seen, x, 0, spec);
      const input = new ortLib.Tensor('float32', x, [1, spec.channels, spec.height, spec.width]);
      const result = await serial(() => model.run({ [io.input('classifier', 'image')]: input }));
      const p = result.probabilities.data;
      let top = 0;
      for (let k = 1; k < p.length; k++) if (p[k] > p[top]) top = k;
      bars.forEach((bar, k) => {
        bar.fill.style.width = `${(100 * p[k]).toFixed(1)}%`;
        bar.value.textContent = percent(p[k]);
        bar.row.classList.toggle('is-top', k === top);
      });
      status.textContent = `Highest probability: ${classes[top]} (${percent(p[top])}).`;
      root.dataset.top = classes[top];
      root.dataset.probabilities = Array.from(p, (v) => v.toFixed(4)).join(' ');
    });
    const pad = new Pad('Drawing pad', update);
    root.append(
      el('div', { class: 'mlcheatsheet-demo-row' },
        el('div', { class: 'mlcheatsheet-demo-column' }, pad.frame, padControls(pad), pad.help),
        el('div', { class: 'mlcheatsheet-demo-column' },
          status,
          el('ol', { class: 'mlcheatsheet-demo-bars', 'aria-label': 'Probability of each class' }, ...bars.map((b) => b.row)),
          figure(seen, 'What the model receives (28×28)'))));
    return async (ort) => {
      ortLib = ort;
      model = await session(ort, files('classifier'));
      status.textContent = 'Draw in the box to see the probability of each class.';
      update();
    };
  }

  function autoencoderDemo(root, demo, files, io) {
    const spec = demo.image;
    const std = Number(demo.noise_std) || 0;
    const plane = spec.channels * spec.height * spec.width;
    let noiseSeed = 1;
    let noise = normals(normal(noiseSeed), plane);
    const views = {
      seen: pixels(spec, 'Your drawing as the models receive it', 'medium'),
      reconstruction: pixels(spec, 'The autoencoder’s reconstruction', 'medium'),
      noisy: pixels(spec, 'The drawing with noise added', 'medium'),
      denoised: pixels(spec, 'The denoising autoencoder’s output for the noisy drawing', 'medium'),
    };
    const status = el('p', { class: 'mlcheatsheet-demo-prediction', 'aria-live': 'polite', text: 'Loading the models…' });
    let models = null;
    let ortLib = null;
    const blank = () => Object.values(views).forEach((c) => c.getContext('2d').clearRect(0, 0, spec.width, spec.height));
    const update = throttled(root, async () => {
      if (!models) return;
      const x = pad.digit(spec);
      if (!x) {
        blank();
        status.textContent = 'Draw in the box to see what the two models make of it.';
        return;
      }
      const noisy = x.map((v, i) => clamp01(v + std * noise[i]));
      const dims = [1, spec.channels, spec.height, spec.width];
      const clean = await serial(() => models.autoencoder.run({ [io.input('autoencoder', 'image')]: new ortLib.Tensor('float32', x, dims) }));
      const denoised = await serial(() => models.denoiser.run({ [io.input('denoiser', 'image')]: new ortLib.Tensor('float32', noisy, dims) }));
      paint(views.seen, x, 0, spec);
      paint(views.reconstruction, image(clean), 0, spec);
      paint(views.noisy, noisy, 0, spec);
      paint(views.denoised, image(denoised), 0, spec);
      status.textContent = 'Updated: your drawing, its reconstruction, a noisy copy and the denoised copy.';
      root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
    });
    const pad = new Pad('Drawing pad', update);
    const newNoise = el('button', {
      type: 'button', class: 'mlcheatsheet-demo-button', text: 'New noise',
      onclick: () => {
        noise = normals(normal(++noiseSeed), plane);
        update();
      },
    });
    root.append(
      el('div', { class: 'mlcheatsheet-demo-row' },
        el('div', { class: 'mlcheatsheet-demo-column' }, pad.frame, padControls(pad, [newNoise]), pad.help),
        el('div', { class: 'mlcheatsheet-demo-column' },
          status,
          el('div', { class: 'mlcheatsheet-demo-gallery' },
            figure(views.seen, 'What the models receive'),
            figure(views.reconstruction, 'Autoencoder: reconstruction'),
            figure(views.noisy, `Noisy copy (noise std ${std})`),
            figure(views.denoised, 'Denoiser: from the noisy copy')))));
    return async (ort) => {
      ortLib = ort;
      models = { autoencoder: await session(ort, files('autoencoder')), denoiser: await session(ort, files('denoiser')) };
      update();
    };
  }

  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  /** A scatter of 2-D codes coloured by label, with one point the reader moves (pointer, arrow keys). */
  class CodeMap {
    constructor(demo, onMove) {
      this.size = 320;
      this.codes = Array.isArray(demo.codes) ? demo.codes : [];
      let [[xmin, xmax], [ymin, ymax]] = demo.code_range || [[-3, 3], [-3, 3]];
      if (!(xmax > xmin)) [xmin, xmax] = [-3, 3];
      if (!(ymax > ymin)) [ymin, ymax] = [-3, 3];
      // A margin of 5% around the codes, so the outermost ones are not on the edge.
      const mx = 0.05 * (xmax - xmin), my = 0.05 * (ymax - ymin);
      this.range = { xmin: xmin - mx, xmax: xmax + mx, ymin: ymin - my, ymax: ymax + my };
      const r = this.range;
      const inside = r.xmin <= 0 && 0 <= r.xmax && r.ymin <= 0 && 0 <= r.ymax;
      // Start at the prior's mean, or at the middle of the map when the codes lie away from it.
      this.code = inside ? { x: 0, y: 0 } : { x: (r.xmin + r.xmax) / 2, y: (r.ymin + r.ymax) / 2 };
      this.onMove = onMove;
      this.canvas = el('canvas', {
        width: this.size, height: this.size, tabindex: 0, class: 'mlcheatsheet-demo-map', role: 'application',
        'aria-roledescription': 'code map',
        'aria-label': 'Map of the 2-D code space: drag the point, or move it with the arrow keys (Shift: faster)',
      });
      this.legend = el('ul', { class: 'mlcheatsheet-demo-legend', 'aria-label': 'Colour of each class on the map' },
        ...(demo.classes || []).map((name, k) => el('li', {},
          el('span', { class: 'mlcheatsheet-demo-swatch', style: `background:${PALETTE[k % PALETTE.length]}` }), name)));
      this.listen();
      this.draw();
    }

    clamp({ x, y }) {
      const r = this.range;
      return { x: Math.min(r.xmax, Math.max(r.xmin, x)), y: Math.min(r.ymax, Math.max(r.ymin, y)) };
    }

    toPx(x, y) {
      const r = this.range, n = this.size;
      return { x: ((x - r.xmin) / (r.xmax - r.xmin)) * n, y: (1 - (y - r.ymin) / (r.ymax - r.ymin)) * n };
    }

    moveTo(code) {
      this.code = this.clamp(code);
      this.draw();
      this.onMove(this.code);
    }

    listen() {
      const canvas = this.canvas;
      let dragging = null;
      const follow = (event) => {
        const box = canvas.getBoundingClientRect(), r = this.range;
        const u = (event.clientX - box.left) / box.width, v = (event.clientY - box.top) / box.height;
        this.moveTo({ x: r.xmin + u * (r.xmax - r.xmin), y: r.ymin + (1 - v) * (r.ymax - r.ymin) });
      };
      canvas.addEventListener('pointerdown', (event) => {
        if (event.pointerType === 'mouse' && event.button !== 0) return;
        dragging = event.pointerId;
        canvas.setPointerCapture(event.pointerId);
        follow(event);
      });
      canvas.addEventListener('pointermove', (event) => {
        if (event.pointerId === dragging) follow(event);
      });
      const end = (event) => {
        if (event.pointerId === dragging) dragging = null;
      };
      canvas.addEventListener('pointerup', end);
      canvas.addEventListener('pointercancel', end);
      canvas.addEventListener('keydown', (event) => {
        const r = this.range, fast = event.shiftKey ? 5 : 1;
        const dx = ((r.xmax - r.xmin) / 40) * fast, dy = ((r.ymax - r.ymin) / 40) * fast;
        const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, dy], ArrowDown: [0, -dy] };
        if (!(event.key in moves)) return;
        event.preventDefault();
        const [mx, my] = moves[event.key];
        this.moveTo({ x: this.code.x + mx, y: this.code.y + my });
      });
    }

    draw() {
      const ctx = this.canvas.getContext('2d'), n = this.size;
      ctx.clearRect(0, 0, n, n);
      const origin = this.toPx(0, 0);
      ctx.strokeStyle = 'rgba(128, 128, 128, 0.5)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(origin.x, 0);
      ctx.lineTo(origin.x, n);
      ctx.moveTo(0, origin.y);
      ctx.lineTo(n, origin.y);
      ctx.stroke();
      ctx.globalAlpha = 0.7;
      for (const [x, y, label] of this.codes) {
        const p = this.toPx(x, y);
        ctx.fillStyle = PALETTE[Number(label) % PALETTE.length];
        ctx.fillRect(p.x - 1.5, p.y - 1.5, 3, 3);
      }
      ctx.globalAlpha = 1;
      const p = this.toPx(this.code.x, this.code.y);
      ctx.beginPath();
      ctx.arc(p.x, p.y, 8, 0, 2 * Math.PI);
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#000'; // a black ring round a white one: visible on light and dark maps
      ctx.stroke();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
  }

  function vaeDemo(root, demo, files, io) {
    const spec = demo.image;
    const decoded = pixels(spec, 'The image decoded from the chosen code', 'large');
    const where = el('p', { class: 'mlcheatsheet-demo-prediction', 'aria-live': 'polite', text: 'Loading the models…' });
    let models = null;
    let ortLib = null;
    const update = throttled(root, async () => {
      const { x, y } = map.code;
      where.textContent = `Code (${x.toFixed(2)}, ${y.toFixed(2)})`;
      if (!models) return;
      const input = new ortLib.Tensor('float32', Float32Array.of(x, y), [1, 2]);
      const result = await serial(() => models.map.run({ [io.input('decoder2d', 'code')]: input }));
      paint(decoded, image(result), 0, spec);
      root.dataset.code = `${x.toFixed(3)} ${y.toFixed(3)}`;
    });
    const map = new CodeMap(demo, update);

    // The model with the larger code: decode a few codes drawn from its prior, N(0, I).
    const latent = Number(demo.latent_dim) || 0;
    const SAMPLES = 8;
    const gauss = normal(7);
    const samples = Array.from({ length: SAMPLES }, (_, k) => pixels(spec, `Sample ${k + 1}`, 'small'));
    const sample = async () => {
      const input = new ortLib.Tensor('float32', normals(gauss, SAMPLES * latent), [SAMPLES, latent]);
      const result = await serial(() => models.decoder.run({ [io.input('decoder', 'code')]: input }));
      samples.forEach((canvas, k) => paint(canvas, image(result), k, spec));
      root.dataset.samples = String(Number(root.dataset.samples || 0) + 1);
    };
    const sampleButton = el('button', {
      type: 'button', class: 'mlcheatsheet-demo-button', text: 'Sample', disabled: true,
      onclick: () => sample().catch((error) => fail(root, error)),
    });
    const larger = Boolean(latent && demo.models && demo.models.decoder);
    root.append(el('div', { class: 'mlcheatsheet-demo-row' },
      el('div', { class: 'mlcheatsheet-demo-column' }, map.canvas, map.legend),
      el('div', { class: 'mlcheatsheet-demo-column' }, where, figure(decoded, 'Decoded by the 2-D model'))));
    if (larger) {
      root.append(el('div', { class: 'mlcheatsheet-demo-section' },
        el('p', { text: `Codes drawn from the standard normal prior of the ${latent}-D model, decoded:` }),
        el('div', { class: 'mlcheatsheet-demo-controls' }, sampleButton),
        el('div', { class: 'mlcheatsheet-demo-grid is-rows-of-8' }, ...samples)));
    }
    return async (ort) => {
      ortLib = ort;
      models = { map: await session(ort, files('decoder2d')) };
      if (larger) {
        models.decoder = await session(ort, files('decoder'));
        sampleButton.disabled = false;
        await sample();
      }
      update();
    };
  }

  function generatorDemo(root, demo, files, io, conditional) {
    const spec = demo.image;
    const latent = Number(demo.latent_dim);
    const classes = demo.classes || [];
    const COUNT = 16;
    const gauss = normal(1);
    let noise = normals(gauss, COUNT * latent);
    let label = 0;
    const grid = Array.from({ length: COUNT }, (_, k) => pixels(spec, `Sample ${k + 1}`, 'small'));
    const ends = [pixels(spec, 'Sample 1: one end of the interpolation', 'small'), pixels(spec, 'Sample 2: the other end', 'small')];
    const between = pixels(spec, 'The image generated from the mixed noise vector', 'large');
    const sliderId = nextId('slider');
    const slider = el('input', { id: sliderId, type: 'range', min: 0, max: 100, value: 50, step: 1, disabled: true });
    const amount = el('output', { for: sliderId, text: 't = 0.50' });
    const status = el('p', { class: 'mlcheatsheet-demo-prediction', 'aria-live': 'polite', text: 'Loading the model…' });
    let model = null;
    let ortLib = null;
    const feeds = (values, count) => {
      const feed = { noise: new ortLib.Tensor('float32', values, [count, latent]) };
      if (conditional) feed.label = new ortLib.Tensor('int64', new BigInt64Array(count).fill(BigInt(label)), [count]);
      return feed;
    };
    const drawGrid = async () => {
      const result = await serial(() => model.run(feeds(noise, COUNT)));
      grid.forEach((canvas, k) => paint(canvas, image(result), k, spec));
      ends.forEach((canvas, k) => paint(canvas, image(result), k, spec));
      const which = conditional ? ` of class ${classes[label] ?? label}` : '';
      status.textContent = `${COUNT} samples${which}, each from its own noise vector.`;
      root.dataset.samples = String(Number(root.dataset.samples || 0) + 1);
    };
    const drawBetween = throttled(root, async () => {
      if (!model) return;
      const t = Number(slider.value) / 100;
      amount.textContent = `t = ${t.toFixed(2)}`;
      const mixed = slerp(noise.subarray(0, latent), noise.subarray(latent, 2 * latent), t);
      const result = await serial(() => model.run(feeds(mixed, 1)));
      paint(between, image(result), 0, spec);
    });
    const refresh = () => drawGrid().then(drawBetween).catch((error) => fail(root, error));
    const again = el('button', {
      type: 'button', class: 'mlcheatsheet-demo-button', text: 'New samples', disabled: true,
      onclick: () => {
        noise = normals(gauss, COUNT * latent);
        refresh();
      },
    });
    slider.addEventListener('input', drawBetween);
    const controls = [again];
    let select = null;
    if (conditional) {
      const selectId = nextId('class');
      select = el('select', { id: selectId, disabled: true },
        ...classes.map((name, k) => el('option', { value: k, text: name })));
      select.addEventListener('change', () => {
        label = Number(select.value);
        refresh();
      });
      controls.unshift(el('label', { for: selectId, text: 'Digit class ' }), select);
    }
    root.append(
      el('div', { class: 'mlcheatsheet-demo-controls' }, ...controls),
      status,
      el('div', { class: 'mlcheatsheet-demo-grid is-rows-of-8', role: 'group', 'aria-label': 'Generated samples' }, ...grid),
      el('div', { class: 'mlcheatsheet-demo-section' },
        el('label', { for: sliderId, text: 'Interpolate from the noise of sample 1 (t = 0) to that of sample 2 (t = 1): ' }), amount,
        el('div', { class: 'mlcheatsheet-demo-interpolation' }, ends[0], slider, ends[1]),
        figure(between, 'Generated from the point at t on the arc from noise 1 to noise 2')));
    return async (ort) => {
      ortLib = ort;
      model = await session(ort, files('generator'));
      again.disabled = false;
      slider.disabled = false;
      if (select) select.disabled = false;
      await drawGrid();
      drawBetween();
    };
  }

  /** A flow-matching model's sampler, run in the page: Heun steps from noise (t = 1) to images
   * (t = 0), as mlcheatsheet.models.diffusion.flow_sample takes them, each step drawn. */
  function diffusionDemo(root, demo, files) {
    const spec = demo.image;
    const size = spec.channels * spec.height * spec.width;
    const COUNT = 16;
    const gauss = normal(5);
    const trained = Number(demo.steps) || 10;
    const grid = Array.from({ length: COUNT }, (_, k) => pixels(spec, `Sample ${k + 1}`, 'small'));
    const stepsId = nextId('steps');
    const counts = [...new Set([1, 2, 5, trained, 20])].sort((a, b) => a - b);
    const select = el('select', { id: stepsId, disabled: true },
      ...counts.map((n) => el('option', { value: n, text: String(n), selected: n === trained })));
    const status = el('p', { class: 'mlcheatsheet-demo-prediction', 'aria-live': 'polite', text: 'Loading the model…' });
    let model = null;
    let ortLib = null;
    let noise = normals(gauss, COUNT * size);
    let run = 0; // a newer run stops an older one between steps
    const show = (x) => {
      const shown = x.map((v) => (v + 1) / 2); // [-1, 1] -> pixels in [0, 1]
      grid.forEach((canvas, k) => paint(canvas, shown, k, spec));
    };
    const velocity = async (x, t) => {
      const feed = { x: new ortLib.Tensor('float32', x, [COUNT, spec.channels, spec.height, spec.width]),
        t: new ortLib.Tensor('float32', new Float32Array(COUNT).fill(t), [COUNT]) };
      const result = await serial(() => model.run(feed));
      return (result.velocity || Object.values(result)[0]).data;
    };
    const sample = async () => {
      const mine = ++run;
      const steps = Number(select.value);
      let x = noise.slice();
      show(x);
      for (let i = steps; i > 0; i--) {
        const v = await velocity(x, i / steps);
        let ahead = x.map((value, j) => value - v[j] / steps);
        if (i > 1) { // Heun: average with the velocity where the Euler step lands (not at t = 0, never trained)
          const w = await velocity(ahead, (i - 1) / steps);
          ahead = x.map((value, j) => value - (v[j] + w[j]) / 2 / steps);
        }
        if (mine !== run) return;
        x = ahead.map((value) => (value < -1 ? -1 : value > 1 ? 1 : value));
        show(x);
        status.textContent = `Step ${steps - i + 1} of ${steps}: t = ${((i - 1) / steps).toFixed(2)}`;
        root.dataset.step = String(steps - i + 1);
        await new Promise(requestAnimationFrame);
      }
      const evaluations = 2 * steps - 1;
      status.textContent = `${COUNT} samples after ${steps} Heun step${steps > 1 ? 's' : ''} `
        + `(${evaluations} network evaluation${evaluations > 1 ? 's' : ''} each); the example samples with ${trained}.`;
      root.dataset.samples = String(Number(root.dataset.samples || 0) + 1);
    };
    const go = () => sample().catch((error) => fail(root, error));
    const again = el('button', {
      type: 'button', class: 'mlcheatsheet-demo-button', text: 'New samples', disabled: true,
      onclick: () => {
        noise = normals(gauss, COUNT * size);
        go();
      },
    });
    select.addEventListener('change', go);
    root.append(
      el('div', { class: 'mlcheatsheet-demo-controls' }, el('label', { for: stepsId, text: 'Heun steps ' }), select, again),
      status,
      el('div', { class: 'mlcheatsheet-demo-grid is-rows-of-8', role: 'group', 'aria-label': 'Samples being denoised' }, ...grid));
    return async (ort) => {
      ortLib = ort;
      model = await session(ort, files('velocity'));
      again.disabled = false;
      select.disabled = false;
      await sample();
    };
  }

  const BUILDERS = {
    classifier: classifierDemo,
    autoencoder: autoencoderDemo,
    vae: vaeDemo,
    generator: (root, demo, files, io) => generatorDemo(root, demo, files, io, false),
    'conditional-generator': (root, demo, files, io) => generatorDemo(root, demo, files, io, true),
    diffusion: diffusionDemo,
  };

  // ---------------------------------------------------------------- start-up
  function fail(root, error) {
    const reason = error && error.message ? error.message : String(error);
    root.dataset.state = 'failed';
    root.replaceChildren(el('p', { class: 'mlcheatsheet-demo-message', text: `The demo could not start: ${reason}.` }));
  }

  async function prepare(root) {
    root.dataset.state = 'loading';
    const demoUrl = new URL(root.dataset.demo, document.baseURI);
    const response = await fetch(demoUrl);
    if (!response.ok) throw new Error(`its description could not be downloaded (HTTP ${response.status})`);
    const demo = await response.json();
    const build = BUILDERS[demo.kind];
    if (!build) throw new Error(`this page does not know demos of kind “${demo.kind}”`);
    const files = (name) => {
      const model = demo.models && demo.models[name];
      if (!model) throw new Error(`the export has no model “${name}”`);
      return new URL(model.file, demoUrl).href;
    };
    // A one-input model's input name comes from demo.json (the interface's name otherwise).
    const io = {
      input: (name, fallback) => Object.keys((demo.models[name] || {}).inputs || {})[0] || fallback,
    };
    root.replaceChildren();
    return build(root, demo, files, io);
  }

  async function start(root, begin) {
    if (typeof WebAssembly !== 'object') throw new Error('this browser does not support WebAssembly');
    const ort = await loadOrt(root.dataset.ort);
    await begin(ort);
    root.dataset.state = 'ready';
  }

  function launch() {
    const near = 'IntersectionObserver' in window
      ? new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          near.unobserve(entry.target);
          entry.target.dispatchEvent(new Event('mlcheatsheet-demo-near'));
        }
      }, { rootMargin: '400px 0px' })
      : null;
    for (const root of roots) {
      const ready = prepare(root);
      ready.catch((error) => fail(root, error));
      // onnxruntime-web (about 14 MB) is fetched only once a demo is close to the screen.
      const go = () => ready.then((begin) => start(root, begin)).catch((error) => fail(root, error));
      if (near) {
        root.addEventListener('mlcheatsheet-demo-near', go, { once: true });
        near.observe(root);
      } else {
        go();
      }
    }
  }

  // Nothing is fetched until the page's load event is over, so the demos never delay it.
  if (document.readyState === 'complete') setTimeout(launch, 0);
  else window.addEventListener('load', () => setTimeout(launch, 0), { once: true });
})();
