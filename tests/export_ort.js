// ONNX Runtime (onnxruntime-node, CPU) runs the exported graphs on the raw features of
// every fixture customer and must reproduce `retain score`: churn probability within
// 1e-6 (double precision throughout, in practice ~1e-15), segment ids exactly; and on
// synthetic rows at the edges of the signed log1p, numpy's results.
// usage: node export_ort.js FIXTURE_DIR ONNXRUNTIME_NODE_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const [dir, ortDir] = process.argv.slice(2);
const ort = require(ortDir);

let failures = 0;
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}
function read(name, Type) {
  const b = fs.readFileSync(path.join(dir, name));
  return new Type(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function run(model, X, n, d) {
  const s = await ort.InferenceSession.create(path.join(dir, model));
  const out = await s.run({features: new ort.Tensor('float64', X, [n, d])});
  return {session: s, out};
}

(async () => {
  const shape = read('features.shape', BigInt64Array);
  const n = Number(shape[0]), d = Number(shape[1]);
  const X = read('features.f64', Float64Array);
  check(n >= 10000, `fixture has ${n} customers (>= 10^4), ${d} features`);
  console.log(`onnxruntime-node ${ort.env.versions.node}`);

  const synthetic = read('synthetic.f64', Float64Array);
  const cases = [
    {model: 'm.onnx', p: 'expected-p.f64', seg: 'expected-segment.i64'},
    {model: 'm-churn.onnx', p: 'expected-p-churn.f64', seg: null},
    {model: 'm-seg.onnx', p: null, seg: 'expected-segment-seg.i64'},
    {model: 'm-alt.onnx', p: 'expected-p-alt.f64', seg: 'expected-segment-alt.i64'},
    // edge values of the signed log1p against numpy's log1p
    {model: 'm.onnx', p: 'expected-p-synthetic.f64', seg: 'expected-segment-synthetic.i64', X: synthetic},
  ];
  for (const c of cases) {
    const Xc = c.X || X, n = Xc.length / d;
    const {session, out} = await run(c.model, Xc, n, d);
    const label = c.model + (c.X ? ' (synthetic edge values, numpy oracle)' : '');
    const names = session.outputNames.join(',');
    const want = [c.p && 'churn_probability', c.seg && 'segment_id'].filter(Boolean).join(',');
    check(names === want, `${label}: outputs ${names}`);
    if (c.p) {
      const p = read(c.p, Float64Array), got = out.churn_probability;
      check(got.type === 'float64' && got.dims.length === 1 && got.dims[0] === n,
            `${label}: churn_probability is float64 [${n}]`);
      let maxd = 0, at = -1;
      for (let i = 0; i < n; i++) {
        const e = Math.abs(got.data[i] - p[i]);
        if (!(e <= maxd)) { maxd = e; at = i; }
      }
      check(maxd <= 1e-6, `${label}: churn probability equals the expected, max |diff| ${maxd.toExponential(2)}` +
            (at >= 0 ? ` (customer row ${at})` : ''));
    }
    if (c.seg) {
      const sid = read(c.seg, BigInt64Array), got = out.segment_id;
      check(got.type === 'int64' && got.dims[0] === n, `${label}: segment_id is int64 [${n}]`);
      let mism = 0;
      for (let i = 0; i < n; i++) if (got.data[i] !== sid[i]) mism++;
      check(mism === 0, `${label}: segment ids equal the expected on all ${n} customers (${mism} differ)`);
    }
    // one customer at a time gives the batch's results (the runtime may pick another matrix
    // kernel for one row, so the probability may differ in the last bits)
    let same = true;
    for (let i = 0; i < 5; i++) {
      const one = await session.run({features: new ort.Tensor('float64', Xc.slice(i * d, (i + 1) * d), [1, d])});
      if (c.p && !(Math.abs(one.churn_probability.data[0] - out.churn_probability.data[i]) <= 1e-12)) same = false;
      if (c.seg && one.segment_id.data[0] !== out.segment_id.data[i]) same = false;
    }
    check(same, `${label}: a batch of one gives the batch's results`);
  }
  // wrong width is refused by the runtime (the graph declares [N, d])
  const s = await ort.InferenceSession.create(path.join(dir, 'm.onnx'));
  let refused = false;
  try {
    await s.run({features: new ort.Tensor('float64', new Float64Array(d + 1), [1, d + 1])});
  } catch (e) {
    refused = true;
  }
  check(refused, 'a row with the wrong number of features is refused');
  console.log(failures ? `export_ort: ${failures} checks failed` : 'export_ort: all checks passed');
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.error('export_ort:', e);
  process.exit(1);
});
