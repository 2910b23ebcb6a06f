// Runs a Sentinel Hub V3 evalscript under ORBIT (or TILE) mosaicking as Evalscript/V3.qmd
// describes it: evaluatePixel(samples, scenes) once per pixel, `samples` an array with one
// object per orbit (most recent first) and `scenes.orbits` their dates. Loopback fixture only.
//
// stdin: {"evalscript": "...", "scenes": [{"dateFrom": "...", "bands": {"VV": [..]}}], "count": N}
// stdout: {"setup": {...}, "outputs": {"<id>": [[band0 values], ...]}}; NaN sent as "NaN".
"use strict";
const vm = require("vm");

let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { text += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(text);
  const context = vm.createContext({ Math, parseFloat, parseInt, isNaN, isFinite, NaN,
                                     Infinity, Number, Array, Object, JSON });
  vm.runInContext(job.evalscript, context, { timeout: 10000 });
  const setup = vm.runInContext("setup()", context);
  const evaluatePixel = context.evaluatePixel;
  const scenes = { orbits: job.scenes.map((s) => ({ dateFrom: s.dateFrom })) };
  const outputs = {};
  for (let n = 0; n < job.count; n++) {
    const samples = job.scenes.map((scene) => {
      const sample = {};
      for (const name of Object.keys(scene.bands)) sample[name] = scene.bands[name][n];
      return sample;
    });
    let result = evaluatePixel(samples, scenes);
    if (Array.isArray(result)) result = { default: result };
    for (const key of Object.keys(result)) {
      const values = result[key];
      if (!outputs[key]) outputs[key] = values.map(() => []);
      values.forEach((value, band) => outputs[key][band].push(value));
    }
  }
  const encode = (value) => (typeof value === "number" && !isFinite(value) ? String(value) : value);
  const body = {};
  for (const key of Object.keys(outputs)) body[key] = outputs[key].map((band) => band.map(encode));
  const declared = setup.output.length === undefined ? [setup.output] : setup.output;
  process.stdout.write(JSON.stringify({ setup: { input: setup.input, output: declared,
                                                  mosaicking: setup.mosaicking || "SIMPLE" },
                                        outputs: body }));
});
