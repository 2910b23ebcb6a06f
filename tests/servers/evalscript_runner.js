// Runs a Sentinel Hub V3 evalscript the way the service does for SIMPLE mosaicking: setup()
// once, then evaluatePixel(samples, scenes) once per pixel with `samples` an object of the
// requested input bands and `scenes` an empty object. Used by the loopback fixture only.
//
// stdin: {"evalscript": "...", "bands": {"B04": [..], ...}, "count": N}
// stdout: {"setup": {...}, "outputs": {"<id>": [[band0 values], [band1 values], ...]}}
// NaN/Infinity are sent as strings so JSON keeps them.
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
  const names = Object.keys(job.bands);
  const outputs = {};
  const declared = setup.output.length === undefined ? [setup.output] : setup.output;
  for (let n = 0; n < job.count; n++) {
    const samples = {};
    for (const name of names) samples[name] = job.bands[name][n];
    let result = evaluatePixel(samples, {});
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
                                                  mosaicking: setup.mosaicking || "SIMPLE" },
                                        outputs: body }));
});
