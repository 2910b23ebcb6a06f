// Runs a Sentinel Hub V3 evalscript the way the service does (CDSE documentation,
// APIs/SentinelHub/Evalscript/V3.qmd): setup() once, then evaluatePixel(samples, scenes) once
// per pixel.
// - SIMPLE mosaicking ("samples": an object of the input bands, "scenes" an empty object):
//   stdin {"evalscript", "bands": {"B04": [..], ...}, "count": N}
// - ORBIT mosaicking ("samples": an array with one sample per orbit, "scenes.orbits" the same
//   length with dateFrom/dateTo; preProcessScenes(collections), when the script has one, may
//   drop orbits first): stdin {"evalscript", "orbits": [{"B04": [..], ...}, ...],
//   "scenes": [{"dateFrom", "dateTo"}, ...], "from", "to", "count": N}
// stdout: {"setup": {...}, "outputs": {"<id>": [[band0 values], [band1 values], ...]}}
// NaN/Infinity are sent as strings so JSON keeps them. Used by the loopback fixture only.
"use strict";
const vm = require("vm");

let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { text += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(text);
  const context = vm.createContext({ Math, parseFloat, parseInt, isNaN, isFinite, NaN,
                                     Infinity, Number, Array, Object, JSON, Date });
  vm.runInContext(job.evalscript, context, { timeout: 10000 });
  const setup = vm.runInContext("setup()", context);
  const mosaicking = String(setup.mosaicking || "SIMPLE").toUpperCase();
  const evaluatePixel = context.evaluatePixel;
  const outputs = {};
  const declared = setup.output.length === undefined ? [setup.output] : setup.output;
  let orbits = job.orbits || [];
  let scenes = (job.scenes || []).map((scene) => Object.assign({}, scene));
  if (mosaicking !== "SIMPLE" && job.count > 0 &&
      typeof context.preProcessScenes === "function") {
    const kept = context.preProcessScenes({ from: new Date(job.from), to: new Date(job.to),
                                            scenes: { orbits: scenes.slice() } }).scenes.orbits;
    const keep = scenes.map((scene) => kept.some((k) => k.dateFrom === scene.dateFrom));
    orbits = orbits.filter((_, n) => keep[n]);
    scenes = scenes.filter((_, n) => keep[n]);
  }
  for (let n = 0; n < job.count; n++) {
    let samples;
    let metadata = {};
    if (mosaicking === "SIMPLE") {
      samples = {};
      for (const name of Object.keys(job.bands)) samples[name] = job.bands[name][n];
    } else {
      samples = orbits.map((orbit) => {
        const sample = {};
        for (const name of Object.keys(orbit)) sample[name] = orbit[name][n];
        return sample;
      });
      metadata = { orbits: scenes };
    }
    let result = evaluatePixel(samples, metadata);
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
  process.stdout.write(JSON.stringify({ setup: { input: setup.input, output: declared,
                                                  mosaicking },
                                        outputs: body }));
});
